/* Demo LGC: what became of the opened patient's documents (DMP state, masking, "Ne pas envoyer", MSSanté
 * recipients), shown by the agent's <vigie-documents> under the qualification panel. */
"use strict";
(function () {
  const documents = document.getElementById("documents");
  documents.client = demo.client;
  demo.onRecordOpened(({identity_id}) => { documents.identityId = identity_id; });
})();
