"""The DMP stand-in (HTTPS + client certificate, SOAP 1.2, MTOM/XOP, TD0.2/TD0.3/ITI-41/18/43/57)."""
