"""Event names: Meta's standard names, and the spellings Segment, RudderStack and Freshpaint use."""

from __future__ import annotations

import re

STANDARD_EVENTS = (
    "AddPaymentInfo", "AddToCart", "AddToWishlist", "CompleteRegistration", "Contact", "CustomizeProduct",
    "Donate", "FindLocation", "InitiateCheckout", "Lead", "Purchase", "Schedule", "Search", "StartTrial",
    "SubmitApplication", "Subscribe", "ViewContent",
)

# Spec names from Segment's e-commerce/B2B specs, RudderStack's and Freshpaint's Facebook
# destinations, folded (lower case, letters and digits only).
_ALIASES = {
    "ordercompleted": "Purchase", "checkoutcompleted": "Purchase", "orderplaced": "Purchase", "purchased": "Purchase",
    "productssearched": "Search", "productsearched": "Search", "searched": "Search",
    "productviewed": "ViewContent", "productlistviewed": "ViewContent", "pageviewed": "ViewContent",
    "contentviewed": "ViewContent",
    "productadded": "AddToCart", "addedtocart": "AddToCart", "cartadded": "AddToCart",
    "productaddedtowishlist": "AddToWishlist", "wishlistproductadded": "AddToWishlist",
    "addedtowishlist": "AddToWishlist",
    "checkoutstarted": "InitiateCheckout", "begincheckout": "InitiateCheckout",
    "paymentinfoentered": "AddPaymentInfo", "addedpaymentinfo": "AddPaymentInfo",
    "signedup": "CompleteRegistration", "signup": "CompleteRegistration", "registered": "CompleteRegistration",
    "registrationcompleted": "CompleteRegistration", "accountcreated": "CompleteRegistration",
    "leadcreated": "Lead", "leadgenerated": "Lead", "formsubmitted": "Lead", "leadsubmitted": "Lead",
    "contacted": "Contact", "contactformsubmitted": "Contact", "callstarted": "Contact",
    "subscribed": "Subscribe", "subscriptionstarted": "Subscribe", "subscriptioncreated": "Subscribe",
    "trialstarted": "StartTrial", "freetrialstarted": "StartTrial",
    "applicationsubmitted": "SubmitApplication",
    "appointmentscheduled": "Schedule", "appointmentbooked": "Schedule", "scheduled": "Schedule",
    "demoscheduled": "Schedule",
    "locationsearched": "FindLocation", "storelocated": "FindLocation",
    "donated": "Donate", "donationmade": "Donate",
    "productcustomized": "CustomizeProduct",
}
_STANDARD = {name.lower(): name for name in STANDARD_EVENTS}


def _fold(name: str) -> str:
    # "orderCompleted" and "Order Completed" and "order_completed" all fold to "ordercompleted".
    return re.sub(r"[^a-z0-9]", "", name.lower())


def canonical_event_name(name: str) -> str:
    """Meta's standard name for ``name`` in any spelling or delimiter style; custom names kept as given."""
    cleaned = name.strip()
    if not cleaned:
        raise ValueError("an event name cannot be empty")
    folded = _fold(cleaned)
    return _STANDARD.get(folded) or _ALIASES.get(folded) or cleaned


def is_standard(name: str) -> bool:
    return name in STANDARD_EVENTS
