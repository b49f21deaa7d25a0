"""onetime: single-use download links for private S3 objects.

The service layer (everything here except ``responses``) does not import
Chalice, so it can be used and tested without HTTP.
"""
