"""Decoding one X-ray file (PNG, JPEG, DICOM) to pixels inside a memory budget.

May import from fedcore: errors.
"""
