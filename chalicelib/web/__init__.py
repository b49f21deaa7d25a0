"""The web layer: Chalice blueprints by audience (``routes``), the answers they give
(``responses``, ``pages``), and reading a request."""
