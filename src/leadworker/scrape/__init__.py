"""scrape layer."""
