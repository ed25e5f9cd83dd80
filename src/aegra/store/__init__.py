"""The long-term store: LangGraph's `AsyncPostgresStore` behind `/store/*`, with embeddings and TTL config."""
