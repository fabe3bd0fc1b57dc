"""Local stand-in of the CNAM e-prescription téléservice (its real protocol is not public)."""
