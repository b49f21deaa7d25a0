"""HTTP routes as Chalice blueprints, one per audience.

* ``customers``: ``/download``, the link a customer opens;
* ``uploaders``: ``/upload``, the page a file request opens, and its confirmation;
* ``operators``: ``/links``, ``/grants``, ``/uploads``, ``/requests``, behind the API key;
* ``buyers``: ``/get-link``, for shops and signed-in buyers;
* ``health``: ``/health``.

``request`` holds what they share: who is asking, strict parameters, bearer
credentials, the error mapping, and the dependencies ``app.py`` wires in.
"""
