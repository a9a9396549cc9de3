"""The http kind: JSON pages from an API, paginated, retried, behind the private-address guard."""
