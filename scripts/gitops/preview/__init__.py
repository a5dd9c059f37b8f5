"""The plan preview: plan JSON to the Markdown a reviewer reads, its cost and its digest."""
