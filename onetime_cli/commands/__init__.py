"""``onetime``'s commands, one module per audience, as the service's routes are:
customers (get), operators (link, show, extend, refund, revoke, unlock, list, resend),
uploaders (share, request, requests) and deploys (smoke)."""
