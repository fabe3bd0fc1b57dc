"""The MSSanté plugin's outbox job names, apart from the service so that registering them imports nothing
heavy (the service brings lxml, cryptography and the mail stack, loaded only once the plugin is configured)."""

JOB_DOCUMENT = "mss.document"
JOB_DELIVER = "mss.deliver"
