"""The job path: from a submit through pull and ack to the advance, and what watches it."""
