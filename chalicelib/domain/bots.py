"""User agents of link previewers and scanners: they fetch links posted in chats and
mail, never on behalf of a person who wants the file.  Data only, one entry per product,
with where the string comes from.

Matching is a case-insensitive substring test on the User-Agent.  A determined sandbox
that claims to be a desktop browser is not caught here (see docs/COUNTING.md).
"""

from __future__ import annotations

# (substring, who sends it, where the string comes from).  "profile": one of the request
# profiles measured against the local stack in issue 12 (a real previewer's User-Agent
# and Accept); "docs": the vendor documents the crawler's name.
PREVIEWERS: tuple[tuple[str, str, str], ...] = (
    (
        "slackbot",
        "Slack unfurler",
        "profile: Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    ),
    (
        "facebookexternalhit",
        "Facebook/Messenger previews",
        "profile; docs: developers.facebook.com, web crawlers",
    ),
    ("facebot", "Facebook crawler", "docs: developers.facebook.com, web crawlers"),
    ("whatsapp", "WhatsApp previews", "profile: WhatsApp/2.x"),
    ("telegrambot", "Telegram previews", "profile: TelegramBot (like TwitterBot)"),
    ("discordbot", "Discord embeds", "profile: Mozilla/5.0 (compatible; Discordbot/2.0; ...)"),
    ("twitterbot", "X/Twitter cards", "profile; docs: developer.x.com, cards"),
    ("linkedinbot", "LinkedIn previews", "profile: LinkedInBot/1.0 (compatible; Mozilla/5.0; ...)"),
    ("skypeuripreview", "Teams/Skype previews", "profile: ... SkypeUriPreview Preview/0.5"),
    (
        "microsoft office",
        "Outlook/Office previews",
        "profile: Microsoft Office/16.0 (... Microsoft Outlook ...)",
    ),
    ("ms-office", "Office link discovery", "Office's protocol-discovery requests: ms-office"),
    ("bingpreview", "Bing/Outlook.com previews", "Bing's preview fetcher: BingPreview/1.0b"),
    ("googlebot", "Google crawler", "docs: developers.google.com, Google's common crawlers"),
    ("applebot", "Apple crawler", "docs: support.apple.com, About Applebot"),
    ("pinterestbot", "Pinterest previews", "docs: help.pinterest.com, Pinterestbot"),
    ("embedly", "Embedly previews", "Embedly's fetcher: Embedly/0.2 (+http://support.embed.ly/)"),
    (
        "iframely",
        "Iframely previews",
        "Iframely's fetcher: Iframely/1.x (+https://iframely.com/docs/about)",
    ),
    (
        "headlesschrome",
        "Headless Chrome (sandboxes, scanners)",
        "Chromium's headless mode names itself HeadlessChrome/<version>",
    ),
    ("phantomjs", "PhantomJS (scanners)", "PhantomJS names itself PhantomJS/<version>"),
    # Conventions rather than products: crawlers name themselves "<Name>bot/<version>" and
    # link their own documentation as "(compatible; Name; +http://...)".
    ("bot/", "a self-declared bot", "convention"),
    ("+http", "a crawler linking its docs", "convention"),
)

# iMessage's previewer claims to be Facebook's and Twitter's crawler at once (observed:
# "Mozilla/5.0 (Macintosh; ...) facebookexternalhit/1.1 Facebot Twitterbot/1.0"), so it is
# covered above.

_NEEDLES = tuple(needle for needle, _, _ in PREVIEWERS)


def previewer(user_agent: str) -> str | None:
    """Who this previewer or scanner is, or None for anything else (browsers, curl,
    HTTP libraries: those may be a person or an integration)."""
    lowered = user_agent.lower()
    for needle, who, _ in PREVIEWERS:
        if needle in lowered:
            return who
    return None
