"""A local stand-in of the national INSi service (SOAP 1.2 over HTTPS, mTLS or CPS assertion).

`start_insi_sandbox()` (in `sandbox.insi.server`) starts it on a free loopback port with a throwaway PKI;
`python -m sandbox.insi` runs it standalone. See `server.py` for the behaviour and `config.py` for the
fault-injection settings.
"""
