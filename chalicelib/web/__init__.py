"""The web layer: Chalice blueprints by audience (``routes``), the answers they give, by
audience too (``views``, and the HTML ``pages`` some of them carry), and reading a request
(``params``, ``urls``, ``apikeys``, ``buyers``)."""
