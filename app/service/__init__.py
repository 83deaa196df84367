"""The service's own records beside the knowledge base: accounts, conversations, feedback,
the review queue, the audit log, curation of documents and rate limits."""
