"""The IT help desk's notes, and questions about them, that retrieval is graded with (Lab 9).

Which notes answer which question was measured with the embedding model the labs use,
all-MiniLM-L6-v2 (`minilm`), and is written down here so that a check knows the right sources
without running the model itself; tests/test_helpdesk.py recomputes every similarity and holds
these lists to them.
"""

MIN_RELEVANCE = 0.3
"""The similarity a note needs to be a source: every note's similarity to every question below is
0.03 or more away from it."""

DOCUMENTS = {
    "vpn": "To connect from home, open the VPN client and sign in with your staff account and "
    "the six-digit code from your authenticator app.",
    "printer": "Printers on every floor take jobs from the shared print queue. Collect your pages "
    "by tapping your badge on any printer.",
    "password": "Passwords expire every ninety days. Change yours at the self-service portal "
    "before it lapses, or your account is locked.",
    "laptop-loan": "The service desk lends laptops for up to two weeks. Book one in the catalogue "
    "and pick it up at the desk on floor two.",
    "wifi": "Guests join the visitor Wi-Fi with the voucher printed at reception; staff devices "
    "use the corporate network automatically.",
    "phishing": "Forward suspicious e-mails to the security team with the report button, and "
    "never open attachments you did not expect.",
    "monitor": "Each desk has a docking station: one USB-C cable charges your laptop and drives "
    "both external screens.",
    "backup": "Files saved in your home folder are copied to the backup server every night and "
    "kept for thirty days.",
}
QUESTIONS = {
    "How can I reach the office systems while working remotely?": ["vpn"],
    "What should I do with a dodgy message that asks me to click a link?": ["phishing"],
    "Can I borrow a computer for a fortnight?": ["laptop-loan"],
    "I forgot my login and cannot get into the office systems from my house.": ["vpn", "password"],
}
"""Each question shares no content word with the documents that answer it; the sources are the
documents at or above MIN_RELEVANCE, most similar first."""
UNRELATED = "What is the boiling point of tungsten?"
"""No document comes near MIN_RELEVANCE (the most similar: 0.04)."""


def embed_ahead() -> None:
    """Embed the notes and the questions in this process, ahead of time (minilm's `embed_ahead`).
    The fork server of the labs that store them calls it (their `preload` in course.toml): its
    servers, fifteen a grading, then each find the vectors ready instead of running the model on
    the same texts. minilm is imported here, not above: the grader reads this file without it."""
    from minilm.chroma import embed_ahead

    embed_ahead([*DOCUMENTS.values(), *QUESTIONS, UNRELATED])
