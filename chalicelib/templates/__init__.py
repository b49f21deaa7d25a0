"""The template files (pages, emails, receipts, the pages' stylesheet and scripts) and
``engine``, the small engine that fills them.  Below every layer that writes text for a
person, so pages, mail and events all share it and none imports another to get it."""
