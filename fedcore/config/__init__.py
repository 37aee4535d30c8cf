"""Every run setting declared once, the RunConfig built from them, and their CLI flags.

May import from fedcore: errors.
"""
