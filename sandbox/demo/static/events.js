/* Event log of the demo LGC: card events and identity updates as the agent pushes them. */
"use strict";
(function () {
  const log = document.getElementById("event-log");
  const SHOWN = ["card.inserted", "card.removed", "identity.updated", "scan.received", "batch.progress",
                 "pairing.requested", "agent.status"];
  window.demo.client.addEventListener("event", (e) => {
    const {method, params} = e.detail;
    if (!SHOWN.includes(method)) return;
    const li = document.createElement("li");
    li.dataset.method = method;
    li.textContent = `${new Date().toLocaleTimeString("fr-FR")}  ${method} ${JSON.stringify(params)}`;
    log.prepend(li);
    while (log.children.length > 200) log.lastChild.remove();
  });
})();
