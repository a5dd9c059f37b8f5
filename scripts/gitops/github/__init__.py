"""The GitHub side: step outputs and summaries, the API client, comments and issues, preflight,
gates, keep-alive, logged runs and the apply report."""
