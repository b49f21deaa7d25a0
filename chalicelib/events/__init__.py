"""Events: what the table's stream means (``notifications``), told to webhooks and to
receipt addresses."""
