"""Annotation: records, annotators (embedded, LLM), prompts, the run loop."""
