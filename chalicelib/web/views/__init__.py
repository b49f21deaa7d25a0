"""HTTP answers, one module per audience (``customers``, ``uploaders``, ``operators``;
buyers get the minted link's answer, which they share with operators), and ``common``: the
status of each domain error, the headers every answer carries, and the error answer."""
