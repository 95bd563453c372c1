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

  function call(method, path, body) {
    return request(method, `/api/runs/${encodeURIComponent(runId)}${path}`, body);
  }

  async function request(method, url, body) {
    const response = await fetch(url, {
      method,
      headers: { "X-Review-Token": token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    const data = await response.json().catch(() => ({}));
    if (response.ok) {
      if (data && data.id === runId) update(data);
      else if (data && data.run && data.run.id === runId) update(data.run);
      hideActionError();
      return data;
    }
    const error = (data && data.error) || {};
    if (response.status === 401) {
      showActionError("This page has expired. Open the notes again (from the CRM or the Teams card) to get a fresh page.");
    } else if (response.status === 409) {
      showNotice("This call changed since the page showed it; you now see the latest. Check it and try again.");
      await refresh();
    } else {
      showActionError(error.message || `The request failed (${response.status}).`);
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

  // Browsers allow six connections per host over HTTP/1.1: a page that holds an event stream
  // for as long as it is open would starve its own API calls (and other tabs) once six pages
  // are open. So a page streams only while it is visible and its run is still changing, and
  // at most STREAMS pages of this browser stream at once (Web Locks); the others poll.
  const STREAMS = 3;
  let streamAbort = null;
  let pollTimer = null;

  function changing() {
    return ["queued", "running", "saving"].includes(run.status);
  }

  function follow() {
    if (streamAbort || document.hidden || !changing()) {
      schedulePoll();
      return;
    }
    if (!navigator.locks) {
      streamUnder(null);
      return;
    }
    const tryLock = (slot) => {
      if (slot >= STREAMS) {
        schedulePoll();
        return;
      }
      navigator.locks.request(`smartnotes-stream-${slot}`, { ifAvailable: true }, (lock) => {
        if (!lock) {
          tryLock(slot + 1);
          return undefined;
        }
        return streamUnder(lock);
      });
    };
    tryLock(0);
  }

  async function streamUnder(lock) {
    const abort = new AbortController();
    streamAbort = abort;
    clearTimeout(pollTimer);
    try {
      const response = await fetch(`/api/runs/${encodeURIComponent(runId)}/events`, {
        headers: { "X-Review-Token": token, Accept: "text/event-stream" },
        cache: "no-store",
        signal: abort.signal,
      });
      if (response.ok) {
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        while (changing() && !document.hidden) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            dispatch(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
          }
        }
        abort.abort();
      }
    } catch (error) {
      // Dropped or closed on purpose; the next poll or stream brings the page up to date.
    } finally {
      if (streamAbort === abort) streamAbort = null;
    }
    void lock;
    schedulePoll();
  }

  function schedulePoll() {
    clearTimeout(pollTimer);
    if (document.hidden || streamAbort) return;
    const wait = changing() ? 1500 : 15000;
    pollTimer = setTimeout(async () => {
      await refresh().catch(() => undefined);
      follow();
    }, wait);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      if (streamAbort) streamAbort.abort();
      clearTimeout(pollTimer);
    } else {
      refresh().catch(() => undefined).then(follow);
    }
  });

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
    // A run the service cancelled (not the rep) says why.
    if (run.status === "cancelled" && run.error) text = `Not processed: ${run.error.message}`;
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
    const failed = run.status === "failed";
    // A summary the checks refused was streamed in part before it was refused: it is not the
    // summary, so it does not stay in the box.
    const refused = stepState.summarizing === "failed" && !complete;
    const shown = refused ? (summary.edited ? summary.text : "") : summary.text || streamed || "";
    // What the rep is typing is never replaced under their hands.
    if (document.activeElement !== summaryBox || summaryBox.readOnly) summaryBox.value = shown;
    // After a failure the rep may write the summary the model did not finish.
    summaryBox.readOnly = !(editable() && (complete || failed));
    $("summary-hint").textContent = complete || summary.edited
      ? editable()
        ? "You can edit the summary; your version is what gets saved."
        : summary.edited ? "Edited by you." : ""
      : failed && isOwner
        ? "No summary was written. You can write it here and save it."
        : "The summary appears here as it is written.";
    renderFeedback(document.querySelector('.feedback[data-target="summary"]'), "summary", "");

    const extractor = run.extractor || {};
    $("extractor").textContent = extractor.name
      ? `by ${extractor.name === "claude" ? "Claude" : "the local model"}${extractor.model ? ` (${extractor.model})` : ""}`
      : "";
    const note = $("extractor-note");
    const repairs = extractor.repairs || [];
    const lines = [];
    if (extractor.fallback_reason) {
      lines.push(`The local extractor found these tasks: ${extractor.fallback_reason}`);
    }
    if (repairs.length) {
      lines.push(
        `Part of the extractor's answer had to be repaired, so check these tasks: ${repairs.join("; ")}`,
      );
    }
    // What the customer's open tasks changed: repeats of them are not proposed again.
    for (const line of extractor.notes || []) lines.push(line);
    note.hidden = !lines.length;
    note.textContent = lines.join(" ");
    renderTasks();
    renderCoach();

    if (run.error && run.status !== "cancelled") {
      const step = STEP_NAMES[run.error.step] || run.error.step || "processing";
      showAlert(
        `Something went wrong while ${step}: ${run.error.message}. ` +
          "What is shown here is still yours to use: finish the note by hand and save it, or retry.",
      );
    } else {
      hideAlert();
    }
    const busy = run.status === "queued" || run.status === "running";
    const cancelled = run.status === "cancelled";
    const plan = run.save_plan || {};
    const save = $("save");
    save.disabled = !editable() || !(complete || summary.edited) || run.needs_customer;
    save.textContent = ["saving", "saved"].includes(run.status) ? plan.label : plan.label || "Save to CRM";
    $("retrigger").disabled = !editable() || !complete;
    $("retry").hidden = !(isOwner && run.status === "failed");
    const stop = $("stop");
    stop.hidden = !isOwner || !(busy || run.status === "needs_review" || run.status === "failed");
    stop.textContent = busy ? "Don't process this call" : "Discard these notes";
    $("closed").hidden = !cancelled;
    $("later").disabled = !isOwner || run.notify_when_done || ["saved", "cancelled"].includes(run.status);
    if (run.notify_when_done && run.status !== "saved") $("later").textContent = "We'll let you know";
    $("accept-all").hidden = !editable() || !run.tasks.some((t) => t.group === "mine" && t.decision === "suggested");
    for (const element of [save, $("retrigger"), $("later")]) element.hidden = cancelled;
    summaryBox.closest("section").hidden = cancelled;
    $("transcript-box").closest("section").hidden = cancelled || !run.transcript_kept;
    renderCustomer();
  }

  // --- The customer of a call no CRM customer was matched to ----------------------------

  let searchTimer = null;

  function renderCustomer() {
    const section = $("customer");
    section.hidden = !(run.needs_customer && isOwner && editable());
  }

  async function searchCustomers() {
    const text = $("customer-search").value.trim();
    const results = $("customer-results");
    if (!text) {
      results.replaceChildren();
      $("customer-create").hidden = true;
      return;
    }
    const query = new URLSearchParams({ run_id: runId, q: text });
    const found = await request("GET", `/api/customers?${query}`).catch(() => null);
    if (!found) return;
    results.replaceChildren();
    for (const customer of found.customers) {
      const item = document.createElement("li");
      item.append(
        button(`Choose ${customer.name}`, async () => {
          await call("PUT", "/customer", { customer_id: customer.id, version: run.version });
          showNotice(`${customer.name} is the customer of this call.`);
        }),
      );
      results.append(item);
    }
    if (!found.customers.length) {
      const none = document.createElement("li");
      none.textContent = "No customer you may write to matches.";
      results.append(none);
    }
    $("customer-create").hidden = !found.can_create;
    $("prospect-create").textContent = `Create “${text}” as a prospect`;
  }

  $("customer-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => searchCustomers().catch(() => undefined), 250);
  });

  // --- Tasks, grouped by whose they are ---------------------------------------------------

  const GROUPS = [
    ["mine", "Your tasks", "Saved with the note unless you reject them."],
    ["customer", "Waiting on the customer", "Saved as your follow-up only if you accept them."],
    ["check", "To check", "Possible commitments no task covered; saved only if you accept them."],
    ["done", "Open tasks done", "Tasks from earlier calls this call shows done; marked done in the CRM only if you accept."],
  ];

  // A control to focus after the next redraw (the task's Edit button once its form closes).
  let restoreFocus = null;

  function renderTasks() {
    const box = $("task-groups");
    const focused = document.activeElement;
    // A task being edited is not redrawn under the rep's hands; it is drawn fresh on save.
    const editing = focused && focused.closest ? focused.closest(".task-edit") : null;
    if (editing && !editing.hidden && box.contains(focused)) return;
    const keepId = restoreFocus || (focused && focused.dataset ? focused.dataset.focusKey : null);
    restoreFocus = null;
    const open = new Set([...box.querySelectorAll(".task.editing")].map((item) => item.dataset.taskId));
    box.replaceChildren();
    if (!run.tasks.length) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = run.status === "cancelled"
        ? "Nothing is kept of this call."
        : run.status === "needs_review" ? "No tasks were found in this call." : "Tasks appear here once the call is analyzed.";
      box.append(empty);
      return;
    }
    for (const [key, heading, hint] of GROUPS) {
      const tasks = run.tasks.filter((task) => (task.group || "mine") === key);
      if (!tasks.length) continue;
      const group = document.createElement("section");
      group.className = `task-group group-${key}`;
      group.setAttribute("aria-label", heading);
      const title = document.createElement("h3");
      title.textContent = `${heading} (${tasks.length})`;
      const note = document.createElement("p");
      note.className = "hint";
      note.textContent = hint;
      const list = document.createElement("ul");
      list.className = "task-list";
      for (const task of tasks) list.append(taskItem(task, open.has(task.id)));
      group.append(title, note, list);
      box.append(group);
    }
    if (keepId) {
      const again = box.querySelector(`[data-focus-key="${CSS.escape(keepId)}"]`);
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

  function taskItem(task, editing) {
    const item = document.createElement("li");
    item.className = `task status-${task.status} decision-${task.decision || "suggested"}`;
    item.dataset.taskId = task.id;
    const can = editable() && task.status !== "written" || (isOwner && run.status === "saved");
    const name = task.title || "untitled task";

    const head = document.createElement("div");
    head.className = "task-head";
    const heading = document.createElement("h4");
    heading.className = "task-title";
    heading.textContent = name;
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = task.status === "written" ? "in the CRM" : task.decision || task.status;
    head.append(heading, badge);
    item.append(head);

    const facts = document.createElement("p");
    facts.className = "facts";
    const parts = [];
    if (task.owner) parts.push(`Owner: ${task.owner}`);
    parts.push(task.due_date ? `Due ${task.due_date}` : "No due date");
    parts.push(`Priority: ${task.priority || "medium"}`);
    facts.textContent = parts.join(" · ");
    if (task.due_text) {
      const said = document.createElement(task.due_changed ? "s" : "span");
      said.className = "said";
      said.textContent = ` said: “${task.due_text}”`;
      if (task.due_changed) said.title = "You changed the date from the one said in the call";
      facts.append(said);
    }
    item.append(facts);
    if (task.priority_reason) {
      const reason = document.createElement("p");
      reason.className = "reason";
      reason.textContent = `Why ${task.priority || "this"} priority: ${task.priority_reason}`;
      item.append(reason);
    }
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
    if (task.crm_url) {
      const link = document.createElement("a");
      link.href = task.crm_url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = "Open in the CRM";
      source.append(" ", link);
    }
    item.append(source);
    if (task.completes) {
      const from = document.createElement("p");
      from.className = "completes";
      from.textContent = `Marks done: “${task.completes.title}”${task.completes.said_on ? `, open since the call on ${task.completes.said_on}` : ""}.`;
      item.append(from);
    }

    const buttons = document.createElement("div");
    buttons.className = "task-actions";
    const accepted = task.status === "accepted" || task.status === "written";
    const accept = button(accepted ? "Accepted" : "Accept", () =>
      call("POST", `/tasks/${task.id}/accept`, { version: task.version }),
    );
    accept.setAttribute("aria-pressed", String(accepted));
    accept.setAttribute("aria-label", `Accept task: ${name}`);
    accept.dataset.focusKey = `accept-${task.id}`;
    const reject = button(task.status === "rejected" ? "Rejected" : "Reject", () =>
      call("POST", `/tasks/${task.id}/reject`, { version: task.version }),
    );
    reject.setAttribute("aria-pressed", String(task.status === "rejected"));
    reject.setAttribute("aria-label", `Reject task: ${name}`);
    reject.dataset.focusKey = `reject-${task.id}`;
    reject.classList.add("reject");
    const edit = document.createElement("button");
    edit.type = "button";
    edit.textContent = "Edit";
    edit.setAttribute("aria-label", `Edit task: ${name}`);
    edit.setAttribute("aria-expanded", String(editing));
    edit.dataset.focusKey = `edit-${task.id}`;
    for (const control of [accept, reject, edit]) control.disabled = !can;
    // A completion has nothing to edit, and one that landed cannot be undone from here.
    if (task.completes) {
      edit.hidden = true;
      reject.disabled = reject.disabled || task.status === "written";
    }
    buttons.append(accept, reject, edit);
    item.append(buttons);

    const form = editForm(task, name);
    form.hidden = !editing;
    item.classList.toggle("editing", editing);
    edit.addEventListener("click", () => {
      const opening = form.hidden;
      form.hidden = !opening;
      item.classList.toggle("editing", opening);
      edit.setAttribute("aria-expanded", String(opening));
      if (opening) form.querySelector("input").focus();
    });
    item.append(form);

    const feedback = document.createElement("div");
    feedback.className = "feedback";
    renderFeedback(feedback, task.id, name);
    item.append(feedback);
    return item;
  }

  function editForm(task, name) {
    const form = document.createElement("form");
    form.className = "task-edit";
    form.setAttribute("aria-label", `Edit task: ${name}`);
    const title = document.createElement("input");
    title.type = "text";
    title.value = task.title || "";
    title.maxLength = 200;
    title.required = true;
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
    const fields = document.createElement("div");
    fields.className = "task-fields";
    fields.append(
      field("Task", title, "title"),
      field("Due", due, "due_date"),
      field("Priority", priority, "priority"),
      field("Owner", owner, "owner"),
    );
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Save changes";
    save.setAttribute("aria-label", `Save changes to task: ${name}`);
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = "Cancel";
    cancel.addEventListener("click", () => {
      form.hidden = true;
      form.closest(".task").classList.remove("editing");
    });
    const row = document.createElement("div");
    row.className = "task-actions";
    row.append(save, cancel);
    form.append(fields, row);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!title.value.trim()) {
        showActionError("A task needs a title.");
        return;
      }
      const change = { version: task.version };
      if (title.value.trim() !== (task.title || "")) change.title = title.value.trim();
      if (due.value !== (task.due_date || "")) change.due_date = due.value || null;
      if (priority.value !== (task.priority || "medium")) change.priority = priority.value;
      if (owner.value.trim() !== (task.owner || "")) change.owner = owner.value.trim();
      if (Object.keys(change).length > 1) {
        try {
          await call("PATCH", `/tasks/${task.id}`, change);
        } catch (error) {
          return; // already shown; the form stays open with what the rep typed
        }
      }
      form.hidden = true;
      form.closest(".task").classList.remove("editing");
      restoreFocus = `edit-${task.id}`;
      renderTasks();
    });
    return form;
  }

  function quote(evidence) {
    const figure = document.createElement("figure");
    figure.className = "evidence";
    const block = document.createElement("blockquote");
    block.textContent = evidence.quote;
    const caption = document.createElement("figcaption");
    const at = typeof evidence.at === "number" ? clock(evidence.at) : null;
    if (at && run.transcript_kept) {
      const jump = document.createElement("button");
      jump.type = "button";
      jump.className = "link";
      jump.textContent = `at ${at}`;
      jump.setAttribute("aria-label", `Show ${at} in the transcript`);
      jump.addEventListener("click", () => showInTranscript(evidence.at).catch(() => undefined));
      caption.append(jump);
    } else if (at) {
      caption.append(`at ${at}`);
    }
    const rest = [
      evidence.speaker || null,
      evidence.verified === false ? "not found word for word in the call" : null,
    ].filter(Boolean);
    if (rest.length) caption.append(`${at ? " · " : ""}${rest.join(" · ")}`);
    figure.append(block, caption);
    return figure;
  }

  let transcriptLoaded = null;

  function loadTranscript() {
    if (!transcriptLoaded) {
      transcriptLoaded = call("GET", "/transcript").then((found) => {
        const list = $("transcript-lines");
        list.replaceChildren();
        for (const segment of found.segments) {
          const line = document.createElement("li");
          line.dataset.start = String(segment.start);
          line.tabIndex = -1;
          const stamp = document.createElement("span");
          stamp.className = "stamp";
          stamp.textContent = clock(segment.start);
          line.append(stamp, ` ${segment.speaker}: ${segment.text}`);
          list.append(line);
        }
        if (!found.segments.length) {
          const none = document.createElement("li");
          none.textContent = found.reason || "The transcript is not available.";
          list.append(none);
        }
      });
      transcriptLoaded.catch(() => {
        transcriptLoaded = null;
      });
    }
    return transcriptLoaded;
  }

  async function showInTranscript(at) {
    const box = $("transcript-box");
    box.open = true;
    await loadTranscript();
    let best = null;
    for (const line of $("transcript-lines").children) {
      const start = Number(line.dataset.start);
      if (!Number.isNaN(start) && start <= at + 0.5) best = line;
    }
    for (const line of $("transcript-lines").children) line.classList.toggle("hit", line === best);
    if (best) {
      best.scrollIntoView({ block: "center" });
      best.focus();
    }
  }

  $("transcript-box").addEventListener("toggle", () => {
    if ($("transcript-box").open) loadTranscript().catch(() => undefined);
  });

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

  // The deal coach: next steps, objections and sentiment, each with where it comes from.
  function renderCoach() {
    const coaching = run.coaching;
    const section = $("coach");
    section.hidden = !coaching;
    if (!coaching) return;
    const by = $("coach-by");
    const body = $("coach-body");
    body.replaceChildren();
    if (coaching.unavailable) {
      by.textContent = "";
      body.append(paragraph(`No coaching for this call: ${coaching.unavailable}.`, "empty"));
      return;
    }
    by.textContent = coaching.made_by === "local"
      ? `by the local analysis (${coaching.fallback_reason})`
      : `by Claude (${coaching.made_by.replace(/^claude:/, "")})`;

    body.append(heading("Next steps"));
    const steps = document.createElement("ol");
    steps.className = "coach-list";
    coaching.next_steps.forEach((step, index) => {
      const item = document.createElement("li");
      const title = document.createElement("strong");
      title.textContent = step.text;
      const confidence = document.createElement("span");
      confidence.className = "badge";
      confidence.textContent = `${Math.round(step.confidence * 100)}% confident`;
      item.append(title, " ", confidence, paragraph(`Why: ${step.why}`, "hint"));
      item.append(sources(step.moments, step.earlier));
      const feedback = document.createElement("div");
      feedback.className = "feedback";
      renderFeedback(feedback, `next_step:${index}`, step.text, "suggestion");
      item.append(feedback);
      steps.append(item);
    });
    // A list holds list items only: the "none" line goes in its place.
    body.append(coaching.next_steps.length ? steps : paragraph("No next step stood out.", "empty"));

    body.append(heading("Objections"));
    const objections = document.createElement("ul");
    objections.className = "coach-list";
    coaching.objections.forEach((objection, index) => {
      const item = document.createElement("li");
      const title = document.createElement("strong");
      title.textContent = `${objection.category[0].toUpperCase()}${objection.category.slice(1)}`;
      item.append(title, sources([objection.moment], objection.earlier));
      const answers = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = "Suggested answers";
      answers.append(summary);
      const list = document.createElement("dl");
      for (const tone of ["formal", "friendly", "concise"]) {
        const term = document.createElement("dt");
        term.textContent = tone;
        const text = document.createElement("dd");
        text.textContent = objection.answers[tone];
        list.append(term, text);
      }
      answers.append(list);
      item.append(answers);
      const feedback = document.createElement("div");
      feedback.className = "feedback";
      renderFeedback(feedback, `objection:${index}`, objection.category, "objection");
      item.append(feedback);
      objections.append(item);
    });
    body.append(
      coaching.objections.length ? objections : paragraph("No objection was raised.", "empty"),
    );

    body.append(heading("Sentiment"));
    if (coaching.sentiment.some((mood) => (mood.series || []).length)) {
      body.append(paragraph(
        "The line is the speaker's sentiment in each stretch of the call, from \u22121 (negative) to 1 (positive); the amber bars under it are their hesitation; the numbered dots are the moments listed under each chart.",
        "hint",
      ));
    }
    for (const mood of coaching.sentiment) body.append(moodFigure(mood, coaching.duration));
    if (!coaching.sentiment.length) body.append(paragraph("No customer spoke.", "empty"));
  }

  function heading(text) {
    const element = document.createElement("h3");
    element.textContent = text;
    return element;
  }

  function paragraph(text, className) {
    const element = document.createElement("p");
    element.className = className;
    element.textContent = text;
    return element;
  }

  // Where a suggestion comes from: words of this call (when, who) and earlier calls' notes.
  // Numbered, the moments match the numbered dots of a sentiment chart.
  function sources(moments, earlier, numbered = false) {
    const list = document.createElement("ul");
    list.className = "sources";
    for (const [index, moment] of (moments || []).entries()) {
      const item = document.createElement("li");
      const when = moment.at === null || moment.at === undefined ? "" : ` at ${clock(moment.at)}`;
      const label = moment.label ? ` (${moment.label})` : "";
      const number = numbered ? `${index + 1}. ` : "";
      item.textContent = `${number}${moment.speaker || "Someone"}${when}: \u201c${moment.quote}\u201d${label}`;
      list.append(item);
    }
    for (const source of earlier || []) {
      const item = document.createElement("li");
      const where = source.call.startsWith("material:")
        ? `Your team's material (${source.call.slice(9).replace(/#\d+$/, "")})`
        : "An earlier call's notes";
      item.textContent = `${where}: \u201c${source.quote}\u201d`;
      list.append(item);
    }
    return list;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  const TREND_WORDS = { warming: "warming up", cooling: "cooling down", steady: "steady" };
  const MOMENT_COLOURS = { concerned: "#b42318", hesitant: "#9a6700", positive: "#1a7f37" };

  function svgElement(name, attributes, text) {
    const element = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
    if (text !== undefined) element.textContent = text;
    return element;
  }

  // A speaker's sentiment (-1 to 1) and hesitation (0 to 1): a line over the call with the
  // moments that drove it, or two bars for coaching kept without the series; then the moments.
  function moodFigure(mood, duration) {
    const figure = document.createElement("figure");
    figure.className = "mood";
    const sentimentWord = mood.sentiment > 0.2 ? "positive" : mood.sentiment < -0.2 ? "negative" : "neutral";
    const trend = TREND_WORDS[mood.trend];
    const caption = document.createElement("figcaption");
    caption.textContent = `${mood.speaker}: ${sentimentWord} (${mood.sentiment.toFixed(2)}), hesitation ${Math.round(mood.hesitation * 100)}%${trend ? `, ${trend} over the call` : ""}`;
    const series = mood.series || [];
    const length = duration || Math.max(0, ...series.map((point) => point.end));
    if (series.length && length > 0) {
      figure.append(caption, moodChart(mood, series, length), moodTable(mood, series));
      figure.append(sources(mood.moments, [], true));
    } else {
      figure.append(caption, moodBars(mood, sentimentWord), sources(mood.moments, []));
    }
    return figure;
  }

  // The line over the call: one point per stretch the speaker spoke in, at its middle; the
  // hesitation of each stretch as a bar under it; each moment a numbered dot on the line.
  function moodChart(mood, series, length) {
    const [left, right, top, bottom, barBase, barHeight] = [30, 312, 8, 64, 88, 16];
    const x = (seconds) => left + (Math.min(Math.max(seconds, 0), length) / length) * (right - left);
    const y = (score) => top + ((1 - score) / 2) * (bottom - top);
    const svg = svgElement("svg", { viewBox: "0 0 320 106", width: 320, height: 106, role: "img" });
    const first = series[0];
    const last = series[series.length - 1];
    svg.setAttribute(
      "aria-label",
      `${mood.speaker}'s sentiment over the call${mood.trend ? `, ${TREND_WORDS[mood.trend]}` : ""}: ${first.sentiment.toFixed(2)} at ${clock(first.start)}` +
        (series.length > 1 ? `, ${last.sentiment.toFixed(2)} at ${clock(last.start)}` : "") +
        ". Every stretch is in the table that follows.",
    );
    for (const [score, label] of [[1, "+1"], [0, "0"], [-1, "\u22121"]]) {
      svg.append(
        svgElement("line", {
          x1: left, x2: right, y1: y(score), y2: y(score),
          stroke: score === 0 ? "#8c959f" : "#d0d7de", "stroke-dasharray": score === 0 ? "3 3" : "none",
        }),
        svgElement("text", { x: left - 4, y: y(score) + 3, "text-anchor": "end", "font-size": 9, fill: "#57606a" }, label),
      );
    }
    for (const point of series) {
      const height = Math.max(point.hesitation * barHeight, point.hesitation > 0 ? 1 : 0);
      svg.append(svgElement("rect", {
        x: x(point.start) + 1, y: barBase - height, width: Math.max(1, x(point.end) - x(point.start) - 2), height,
        fill: "#d4a72c",
      }));
    }
    svg.append(svgElement("line", { x1: left, x2: right, y1: barBase, y2: barBase, stroke: "#d0d7de" }));
    const middles = series.map((point) => [(point.start + point.end) / 2, point.sentiment]);
    svg.append(svgElement("polyline", {
      points: middles.map(([at, score]) => `${x(at).toFixed(1)},${y(score).toFixed(1)}`).join(" "),
      fill: "none", stroke: "#0f6cbd", "stroke-width": 2, "stroke-linejoin": "round",
    }));
    for (const [at, score] of middles) {
      svg.append(svgElement("circle", { cx: x(at), cy: y(score), r: 2.5, fill: "#0f6cbd" }));
    }
    // A moment sits on the line where it was said: between two stretches' middles the line's
    // height there, before the first or after the last that stretch's.
    const scoreAt = (at) => {
      if (at <= middles[0][0]) return middles[0][1];
      for (let index = 1; index < middles.length; index += 1) {
        const [end, high] = middles[index];
        const [start, low] = middles[index - 1];
        if (at <= end) return low + ((high - low) * (at - start)) / (end - start);
      }
      return middles[middles.length - 1][1];
    };
    (mood.moments || []).forEach((moment, index) => {
      if (moment.at === null || moment.at === undefined) return;
      const [cx, cy] = [x(moment.at), y(scoreAt(moment.at))];
      const dot = svgElement("circle", {
        cx, cy, r: 5, fill: MOMENT_COLOURS[moment.label] || "#57606a", stroke: "#ffffff", "stroke-width": 1.5,
      });
      dot.append(svgElement("title", {}, `${index + 1}. ${clock(moment.at)}${moment.label ? ` ${moment.label}` : ""}: \u201c${moment.quote}\u201d`));
      const labelY = cy - 8 < top ? cy + 15 : cy - 8;
      svg.append(dot, svgElement("text", { x: cx, y: labelY, "text-anchor": "middle", "font-size": 9, fill: "#1f2328" }, String(index + 1)));
    });
    svg.append(
      svgElement("text", { x: left, y: 102, "font-size": 9, fill: "#57606a" }, clock(0)),
      svgElement("text", { x: right, y: 102, "text-anchor": "end", "font-size": 9, fill: "#57606a" }, clock(length)),
    );
    return svg;
  }

  // The chart's numbers for a screen reader: one row per stretch the speaker spoke in.
  function moodTable(mood, series) {
    const table = document.createElement("table");
    table.className = "visually-hidden";
    const caption = document.createElement("caption");
    caption.textContent = `${mood.speaker}, sentiment and hesitation over the call`;
    const head = document.createElement("tr");
    for (const name of ["Stretch of the call", "Sentiment", "Hesitation"]) {
      const cell = document.createElement("th");
      cell.scope = "col";
      cell.textContent = name;
      head.append(cell);
    }
    const thead = document.createElement("thead");
    thead.append(head);
    const tbody = document.createElement("tbody");
    for (const point of series) {
      const row = document.createElement("tr");
      for (const text of [
        `${clock(point.start)} to ${clock(point.end)}`,
        point.sentiment.toFixed(2),
        `${Math.round(point.hesitation * 100)}%`,
      ]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      tbody.append(row);
    }
    table.append(caption, thead, tbody);
    return table;
  }

  // The whole call's sentiment and hesitation as two bars, for coaching kept without a series.
  function moodBars(mood, sentimentWord) {
    const svg = svgElement("svg", { viewBox: "0 0 200 44", width: 200, height: 44, role: "img" });
    svg.setAttribute(
      "aria-label",
      `${mood.speaker}: sentiment ${mood.sentiment.toFixed(2)} (${sentimentWord}), hesitation ${Math.round(mood.hesitation * 100)}%`,
    );
    const bar = (barY, barX, width, fill) => svgElement("rect", { x: barX, y: barY, width: Math.max(1, width), height: 14, fill });
    const sentimentWidth = Math.abs(mood.sentiment) * 100;
    svg.append(
      bar(2, mood.sentiment >= 0 ? 100 : 100 - sentimentWidth, sentimentWidth, mood.sentiment >= 0 ? "#2e7d32" : "#c62828"),
      svgElement("line", { x1: 100, x2: 100, y1: 0, y2: 18, stroke: "#555" }),
      bar(26, 0, mood.hesitation * 200, "#9a6700"),
    );
    return svg;
  }

  function renderFeedback(container, target, name, kind = "task") {
    const given = (run.feedback || {})[target] || {};
    container.replaceChildren();
    const label = target === "summary" ? "the summary" : `${kind}: ${name}`;
    const comment = document.createElement("input");
    const like = button("Like", () => sendFeedback(target, "like", comment.value));
    like.setAttribute("aria-pressed", String(given.rating === "like"));
    like.setAttribute("aria-label", target === "summary" ? "Like the summary" : `Like ${label}`);
    const dislike = button("Dislike", () => sendFeedback(target, "dislike", comment.value));
    dislike.setAttribute("aria-pressed", String(given.rating === "dislike"));
    dislike.setAttribute("aria-label", target === "summary" ? "Dislike the summary" : `Dislike ${label}`);
    comment.type = "text";
    comment.maxLength = 2000;
    comment.placeholder = "Tell us why (optional)";
    comment.value = given.comment || "";
    comment.setAttribute("aria-label", `Comment on ${label}`);
    comment.dataset.field = `comment-${target}`;
    comment.dataset.focusKey = `comment-${target}`;
    // The comment box appears once there is a rating to explain, not before.
    comment.hidden = !given.rating;
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

  // An action's error stays until the rep dismisses it or the next action succeeds; the
  // redraws that follow every change must not take it away before it is read.
  function showActionError(text) {
    $("action-error-text").textContent = text;
    $("action-error").hidden = false;
  }

  function hideActionError() {
    $("action-error").hidden = true;
  }

  $("action-error-close").addEventListener("click", hideActionError);

  function showNotice(text) {
    const notice = $("notice");
    notice.textContent = text;
    notice.hidden = false;
  }

  function confirmAction(title, text, ok) {
    const dialog = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = ok;
    return new Promise((resolve) => {
      const done = (answer) => {
        $("confirm-ok").onclick = null;
        $("confirm-cancel").onclick = null;
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      $("confirm-ok").onclick = () => done(true);
      $("confirm-cancel").onclick = () => done(false);
      dialog.onclose = () => done(false);
      dialog.showModal();
      $("confirm-cancel").focus();
    });
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
    onClick($(id), action, (element) => {
      // Enabled again, then render() disables what the run's state does not allow.
      element.disabled = false;
      render();
    });
  }

  wire("save", async () => {
    await saveSummaryEdit();
    const saved = await call("POST", "/save", { version: run.version });
    const plan = (saved && saved.save_plan) || {};
    const count = plan.tasks || 0;
    showNotice(
      `Saved: the note and ${count === 1 ? "1 task" : `${count} tasks`} are on their way to the CRM.`,
    );
  });
  wire("retrigger", async () => {
    const kept = run.tasks.filter((t) => t.decision && t.decision !== "suggested").length;
    const replaced = run.tasks.length - kept;
    const ok = await confirmAction(
      "Re-create the tasks?",
      `The ${replaced === 1 ? "1 suggestion" : `${replaced} suggestions`} you have not touched will be ` +
        `replaced by a new extraction. ${kept === 1 ? "The 1 task" : `The ${kept} tasks`} you edited, ` +
        "accepted or rejected stay as they are, and your summary stays.",
      "Re-create tasks",
    );
    if (!ok) return;
    await call("POST", "/retrigger-tasks", { version: run.version });
    showNotice("Creating the tasks again from the call; your decisions and summary stay.");
  });
  wire("retry", async () => {
    await call("POST", "/retry");
    showNotice("Trying again.");
  });
  wire("stop", async () => {
    const busy = run.status === "queued" || run.status === "running";
    const ok = await confirmAction(
      busy ? "Don't process this call?" : "Discard these notes?",
      "The summary, the tasks and the transcript of this call are deleted. This cannot be undone.",
      busy ? "Don't process it" : "Discard them",
    );
    if (!ok) return;
    await call("POST", "/stop");
    showNotice("Nothing is kept of this call: its summary, tasks and transcript are deleted.");
  });
  wire("accept-all", async () => {
    await call("POST", "/tasks/accept-all", { version: run.version });
    showNotice("All your suggested tasks are accepted.");
  });
  wire("prospect-create", async () => {
    const name = $("customer-search").value.trim();
    if (!name) {
      showActionError("Type the prospect's name first.");
      return;
    }
    const email = $("prospect-email").value.trim();
    const body = { run_id: runId, name, version: run.version };
    if (email) body.email = email;
    await request("POST", "/api/customers", body);
    showNotice(`${name} was created in the CRM and is the customer of this call.`);
  });
  $("closed").addEventListener("click", closeModal);
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    $("save").focus();
  });
  wire("later", async () => {
    await call("POST", "/later");
    showNotice("We'll let you know when the notes are ready. You can close this now.");
    closeModal();
  });

  update(run);
  follow();
})();
