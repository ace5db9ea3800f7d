"""Diagnosis reports (issue 20): structured findings with physical evidence, grounded text, Markdown and HTML."""
