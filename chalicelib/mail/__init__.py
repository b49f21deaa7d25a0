"""Mail: composing and sending the emails that carry links (SES)."""
