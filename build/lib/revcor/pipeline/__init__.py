"""The workflow's steps: one function per rule, reading and writing artifacts."""
