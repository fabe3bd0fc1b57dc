"""INSi téléservice client (insi.md): envelopes, parser, CPS assertion, TLS, async client.

Reusable on its own: nothing here imports the agent. Entry points: `client.InsiClient`,
`client.InsiSettings`, the value types and errors in `types`.
"""
