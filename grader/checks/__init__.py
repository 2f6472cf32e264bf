"""The checks more than one lab grades: each lab's grader file, and the capstone's, call them.

A check here is `async def name(lab)` (with options where labs differ) and reads the app's
contract from the lab page that introduced it. The capstone runs them on its own app through a
`Service` (grader/runner.py): its servers get the settings it needs and its clients a key.
"""
