"""onetime: single-use download links for private S3 objects.

Only ``web`` imports Chalice; the services below it can be used and tested
without HTTP.
"""
