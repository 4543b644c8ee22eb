"""Facebook's side of the numbers: Ads Manager insights and Events Manager dataset quality."""
