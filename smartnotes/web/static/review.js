// The post-call review page: follows the run's event stream and calls the review API with the
// page's token. No framework: the page is small and must load fast inside the CRM's modal.
"use strict";

(function () {
  const root = document.getElementById("review");
  const runId = root.dataset.runId;
  const isOwner = root.dataset.owner === "true";
  const origins = (root.dataset.origins || "").split(" ").filter(Boolean);
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  const summaryBox = $("summary-text");
  const STEP_NAMES = {
    loading: "loading the call",
    transcribing: "transcribing",
    summarizing: "summarizing",
    analyzing: "analyzing",
    creating_tasks: "creating tasks",
    matching_customer: "matching the customer",
  };
  const STATUS_TEXT = {
    queued: "Waiting to start…",
    running: "Working on it…",
    needs_review: "Ready for your review",
    saving: "Saving to the CRM…",
    saved: "Saved to the CRM",
    failed: "Something went wrong",
    cancelled: "Not processed: you chose not to process this call",
  };
  let run = JSON.parse($("initial").textContent);
  // Each step's state: "running", "done" or "failed". Summarizing and analyzing run at once.
  let stepState = {};
  let streamed = "";

  // --- API -------------------------------------------------------------------------------

  async function call(method, path, body) {
    const response = await fetch(`/api/runs/${encodeURIComponent(runId)}${path}`, {
      method,
      headers: { "X-Review-Token": token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    const data = await response.json().catch(() => ({}));
    if (response.ok) {
      if (data && data.id === runId) update(data);
      return data;
    }
    const error = (data && data.error) || {};
    if (response.status === 401) {
      showAlert("This page has expired. Close it and open the call again from the CRM.");
    } else if (response.status === 409) {
      showNotice("This call changed since the page showed it; you now see the latest. Check it and try again.");
      await refresh();
    } else {
      showAlert(error.message || `The request failed (${response.status}).`);
    }
    throw new Error(error.message || String(response.status));
  }

  async function refresh() {
    const response = await fetch(`/api/runs/${encodeURIComponent(runId)}`, {
      headers: { "X-Review-Token": token },
      cache: "no-store",
    });
    if (response.ok) update(await response.json());
  }

  // --- Event stream (fetch, so the token goes in a header and not in a URL) --------------

  async function follow() {
    for (;;) {
      try {
        const response = await fetch(`/api/runs/${encodeURIComponent(runId)}/events`, {
          headers: { "X-Review-Token": token, Accept: "text/event-stream" },
          cache: "no-store",
        });
        if (response.status === 401 || response.status === 404) return;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            dispatch(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
          }
        }
      } catch (error) {
        // The connection dropped; the next snapshot on reconnect brings the page up to date.
      }
      if (run.status === "saved" || run.status === "cancelled") return;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  function dispatch(block) {
    let name = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).trim();
    }
    if (!data) return;
    const payload = JSON.parse(data);
    if (name === "run") {
      update(payload);
    } else if (name === "step") {
      stepState[payload.step] = payload.status;
      if (payload.step === "summarizing" && payload.status === "running") streamed = "";
      renderSteps();
    } else if (name === "token") {
      streamed += payload.text;
      if (!run.summary.generated) summaryBox.value = streamed;
    } else if (name === "warning") {
      showNotice(payload.message);
    }
  }

  // --- Rendering -------------------------------------------------------------------------

  function update(next) {
    // An answer can arrive after the event stream has already shown a newer state (a save's
    // answer after the outbox finished); the record's version says which is newer.
    if (next.version < run.version) return;
    run = next;
    // The record is the authority; a step's latest row says where it stands.
    stepState = {};
    for (const step of run.steps || []) stepState[step.step] = step.status;
    render();
  }

  function renderSteps() {
    const ready = ["needs_review", "saving", "saved"].includes(run.status);
    // A step event can arrive before the snapshot that says the run started.
    const active = run.status === "running" || run.status === "queued";
    const running = [];
    for (const item of document.querySelectorAll("#steps li")) {
      const step = item.dataset.step;
      const state = step === "ready" ? (ready ? "done" : null) : stepState[step];
      const current = state === "running" && active;
      item.classList.toggle("done", state === "done" || (ready && step !== "ready"));
      item.classList.toggle("failed", state === "failed");
      item.classList.toggle("current", current);
      if (current) {
        item.setAttribute("aria-current", "step");
        running.push(STEP_NAMES[step] || step);
      } else {
        item.removeAttribute("aria-current");
      }
    }
    if (active && stepState.transcribing === "running") running.unshift("transcribing");
    let text = STATUS_TEXT[run.status] || run.status;
    if (active && running.length) text = `${running.join(" and ")}…`;
    text = text.charAt(0).toUpperCase() + text.slice(1);
    $("status").textContent = text;
  }

  function editable() {
    return isOwner && (run.status === "needs_review" || run.status === "failed");
  }

  function render() {
    renderSteps();
    const summary = run.summary || {};
    const complete = summary.generated !== null && summary.generated !== undefined;
    if (document.activeElement !== summaryBox || !complete) {
      summaryBox.value = summary.text || streamed || "";
    }
    const failed = run.status === "failed";
    // After a failure the rep may write the summary the model did not finish.
    summaryBox.readOnly = !(editable() && (complete || failed));
    $("summary-hint").textContent = complete || summary.edited
      ? editable()
        ? "You can edit the summary; your version is what gets saved."
        : summary.edited ? "Edited by you." : ""
      : failed && isOwner
        ? "No summary was written. You can write it here and save it."
        : "The summary appears here as it is written.";
    renderFeedback(document.querySelector('.feedback[data-target="summary"]'), "summary");

    const extractor = run.extractor || {};
    $("extractor").textContent = extractor.name
      ? `by ${extractor.name === "claude" ? "Claude" : "the local model"}${extractor.model ? ` (${extractor.model})` : ""}`
      : "";
    const note = $("extractor-note");
    note.hidden = !extractor.fallback_reason;
    note.textContent = extractor.fallback_reason
      ? `The local extractor found these tasks: ${extractor.fallback_reason}`
      : "";
    renderTasks();

    if (run.error) {
      const step = STEP_NAMES[run.error.step] || run.error.step || "processing";
      showAlert(
        `Something went wrong while ${step}: ${run.error.message}. ` +
          "What is shown here is still yours to use: finish the note by hand and save it, or retry.",
      );
    } else {
      hideAlert();
    }
    const busy = run.status === "queued" || run.status === "running";
    $("save").disabled = !editable() || !(complete || summary.edited);
    $("retrigger").disabled = !editable() || !complete;
    $("retry").hidden = !(isOwner && run.status === "failed");
    $("stop").hidden = !(isOwner && busy);
    $("later").disabled = !isOwner || run.notify_when_done || ["saved", "cancelled"].includes(run.status);
    if (run.notify_when_done && run.status !== "saved") $("later").textContent = "We'll let you know";
    if (run.status === "saved") $("save").textContent = "Saved";
    else if (run.status === "saving") $("save").textContent = "Saving…";
  }

  function renderTasks() {
    const list = $("task-list");
    const focused = document.activeElement;
    const focusTask = focused && focused.closest ? focused.closest(".task") : null;
    const focusField = focused && focused.dataset ? focused.dataset.field : null;
    const keep = focusTask ? focusTask.dataset.taskId : null;
    list.replaceChildren();
    if (!run.tasks.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = run.status === "needs_review" ? "No tasks were found in this call." : "Tasks appear here once the call is analyzed.";
      list.append(empty);
      return;
    }
    for (const task of run.tasks) list.append(taskItem(task));
    if (keep && focusField) {
      const again = list.querySelector(`.task[data-task-id="${CSS.escape(keep)}"] [data-field="${focusField}"]`);
      if (again) again.focus();
    }
  }

  function field(label, input, name) {
    const wrap = document.createElement("label");
    wrap.className = `field field-${name}`;
    const text = document.createElement("span");
    text.textContent = label;
    input.dataset.field = name;
    wrap.append(text, input);
    return wrap;
  }

  function taskItem(task) {
    const item = document.createElement("li");
    item.className = `task status-${task.status}`;
    item.dataset.taskId = task.id;
    const can = editable() && task.status !== "written";

    const title = document.createElement("input");
    title.type = "text";
    title.value = task.title || "";
    title.maxLength = 200;
    const due = document.createElement("input");
    due.type = "date";
    due.value = task.due_date || "";
    const priority = document.createElement("select");
    for (const level of ["high", "medium", "low"]) {
      const option = document.createElement("option");
      option.value = level;
      option.textContent = level;
      option.selected = task.priority === level;
      priority.append(option);
    }
    const owner = document.createElement("input");
    owner.type = "text";
    owner.value = task.owner || "";
    owner.maxLength = 120;
    for (const input of [title, due, priority, owner]) input.disabled = !can;

    const head = document.createElement("div");
    head.className = "task-head";
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = task.status === "proposed" ? "suggested" : task.status;
    head.append(field("Task", title, "title"), badge);

    const fields = document.createElement("div");
    fields.className = "task-fields";
    fields.append(field("Due", due, "due_date"), field("Priority", priority, "priority"), field("Owner", owner, "owner"));
    if (task.due_text) {
      const said = document.createElement("span");
      said.className = "said";
      said.textContent = `said: “${task.due_text}”`;
      fields.append(said);
    }

    item.append(head, fields);
    if (task.description) {
      const description = document.createElement("p");
      description.className = "description";
      description.textContent = task.description;
      item.append(description);
    }
    for (const evidence of task.evidence || []) item.append(quote(evidence));
    const source = document.createElement("p");
    source.className = "source";
    source.textContent = sourceText(task);
    item.append(source);

    const buttons = document.createElement("div");
    buttons.className = "task-actions";
    const accept = button(task.status === "accepted" ? "Accepted" : "Accept", () =>
      call("POST", `/tasks/${task.id}/accept`, { version: task.version }),
    );
    accept.setAttribute("aria-pressed", String(task.status === "accepted"));
    accept.disabled = !can;
    const reject = button(task.status === "rejected" ? "Rejected" : "Reject", () =>
      call("POST", `/tasks/${task.id}/reject`, { version: task.version }),
    );
    reject.setAttribute("aria-pressed", String(task.status === "rejected"));
    reject.disabled = !can;
    reject.classList.add("reject");
    buttons.append(accept, reject);
    const feedback = document.createElement("div");
    feedback.className = "feedback";
    renderFeedback(feedback, task.id);
    item.append(buttons, feedback);

    const edit = (name, read) => async () => {
      const value = read();
      if ((task[name] || "") === value) return;
      if (name === "title" && !value.trim()) {
        showAlert("A task needs a title.");
        return;
      }
      const change = { version: task.version };
      change[name] = value === "" && name === "due_date" ? null : value;
      await call("PATCH", `/tasks/${task.id}`, change).catch(() => undefined);
    };
    title.addEventListener("change", edit("title", () => title.value.trim()));
    due.addEventListener("change", edit("due_date", () => due.value));
    priority.addEventListener("change", edit("priority", () => priority.value));
    owner.addEventListener("change", edit("owner", () => owner.value.trim()));
    return item;
  }

  function quote(evidence) {
    const figure = document.createElement("figure");
    figure.className = "evidence";
    const block = document.createElement("blockquote");
    block.textContent = evidence.quote;
    const caption = document.createElement("figcaption");
    const at = typeof evidence.at === "number" ? clock(evidence.at) : null;
    caption.textContent = [
      at ? `at ${at}` : null,
      evidence.speaker || null,
      evidence.verified === false ? "not found word for word in the call" : null,
    ].filter(Boolean).join(" · ");
    figure.append(block, caption);
    return figure;
  }

  function sourceText(task) {
    if (task.origin === "recall_check") {
      return "Found by the recall check: a commitment no other task covered. Check it.";
    }
    const by = task.origin === "claude" ? "Claude" : "the local model";
    return `Suggested by ${by}${task.edited ? ", edited by you" : ""}.`;
  }

  function clock(seconds) {
    const whole = Math.max(0, Math.floor(seconds));
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = String(whole % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  function renderFeedback(container, target) {
    const given = (run.feedback || {})[target] || {};
    container.replaceChildren();
    const label = target === "summary" ? "the summary" : "this task";
    const like = button("Like", () => sendFeedback(target, "like", comment.value));
    like.setAttribute("aria-pressed", String(given.rating === "like"));
    like.setAttribute("aria-label", `Like ${label}`);
    const dislike = button("Dislike", () => sendFeedback(target, "dislike", comment.value));
    dislike.setAttribute("aria-pressed", String(given.rating === "dislike"));
    dislike.setAttribute("aria-label", `Dislike ${label}`);
    const comment = document.createElement("input");
    comment.type = "text";
    comment.maxLength = 2000;
    comment.placeholder = "Comment (optional)";
    comment.value = given.comment || "";
    comment.setAttribute("aria-label", `Comment on ${label}`);
    comment.dataset.field = `comment-${target}`;
    comment.addEventListener("change", () => {
      if (given.rating) sendFeedback(target, given.rating, comment.value);
    });
    for (const control of [like, dislike, comment]) control.disabled = !isOwner;
    container.append(like, dislike, comment);
  }

  function sendFeedback(target, rating, comment) {
    return call("POST", "/feedback", { target, rating, comment: comment || "" })
      .then(() => showNotice("Thanks for the feedback."))
      .catch(() => undefined);
  }

  // Runs a button's action once at a time; call() has already told the rep about any error.
  function onClick(element, action, after) {
    element.addEventListener("click", async () => {
      element.disabled = true;
      try {
        await action();
      } catch (error) {
        // Already shown.
      } finally {
        after(element);
      }
    });
  }

  function button(text, action) {
    const element = document.createElement("button");
    element.type = "button";
    element.textContent = text;
    onClick(element, action, (done) => {
      done.disabled = false;
    });
    return element;
  }

  function showAlert(text) {
    const alert = $("alert");
    alert.textContent = text;
    alert.hidden = false;
  }

  function hideAlert() {
    $("alert").hidden = true;
  }

  function showNotice(text) {
    const notice = $("notice");
    notice.textContent = text;
    notice.hidden = false;
  }

  function closeModal() {
    // The CRM closes its modal on this message; only its configured origins receive it.
    for (const origin of origins) {
      if (window.parent !== window) window.parent.postMessage({ type: "smartnotes:close", run: runId }, origin);
    }
  }

  // --- Actions ---------------------------------------------------------------------------

  async function saveSummaryEdit() {
    const text = summaryBox.value.trim();
    const current = (run.summary && run.summary.text) || "";
    if (summaryBox.readOnly || text === current.trim()) return;
    if (!text) {
      showAlert("The summary cannot be empty.");
      return;
    }
    await call("PATCH", "/summary", { text, version: run.version });
  }

  summaryBox.addEventListener("change", () => saveSummaryEdit().catch(() => undefined));

  function wire(id, action) {
    onClick($(id), action, () => render());
  }

  wire("save", async () => {
    await saveSummaryEdit();
    await call("POST", "/save", { version: run.version });
    showNotice("Saved. The note and the accepted tasks are on their way to the CRM.");
  });
  wire("retrigger", async () => {
    await call("POST", "/retrigger-tasks", { version: run.version });
    showNotice("Creating the tasks again from the call; your summary stays as it is.");
  });
  wire("retry", async () => {
    await call("POST", "/retry");
    showNotice("Trying again.");
  });
  wire("stop", async () => {
    await call("POST", "/stop");
    showNotice("This call will not be processed; its transcript is deleted.");
  });
  wire("later", async () => {
    await call("POST", "/later");
    showNotice("We'll let you know when the notes are ready. You can close this now.");
    closeModal();
  });

  update(run);
  follow();
})();
