"""The domain: links and file requests, tokens, the counting and delivery rules, the
refusals and the error vocabulary.  Imports nothing from the other layers."""
