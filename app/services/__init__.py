"""Domain services: plain async functions over a session; they flush, callers commit."""
