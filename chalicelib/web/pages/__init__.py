"""The HTML a person sees, one module per audience (``customers``, ``uploaders``), and
``common``: the page every one of them is framed in, and the problem page.  The views
(``chalicelib/web/views``) put them in responses; the words of a refusal come from
``chalicelib/domain/refusals.py``, the templates and their engine from
``chalicelib/templates``."""
