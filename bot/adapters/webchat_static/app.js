// Guanjia web chat demo: one WebSocket to the local server; the protocol is documented in
// docs/webchat-protocol.md. Everything a person or the bot wrote is put in the page with
// textContent, never as HTML (links become <a> elements whose href is set as a property).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const app = $("app");
  const state = {
    socket: null,
    texts: { zh: {}, en: {} },
    lang: localStorage.getItem("guanjia.lang") || null,
    estates: [],
    estate: null,
    // The owners the picker shows: a page at a time from the server, for the current search.
    owners: [],
    ownersTotal: 0,
    ownersQuery: "",
    peopleRef: 0,
    role: "owner",
    me: null,
    chats: [], // [{id, kind}]
    messages: {}, // chat id -> [message]
    unread: {},
    active: null,
    demo: { public: false },
    limits: { text: 4000, photo_bytes: 5 * 1024 * 1024 },
    photo: null, // data: URL waiting to be sent
    retry: 0,
  };

  function t(key, fields) {
    const table = state.texts[state.lang] || {};
    let text = table[key] !== undefined ? table[key] : (state.texts.zh[key] || key);
    if (fields) {
      for (const [name, value] of Object.entries(fields)) {
        text = text.split("{" + name + "}").join(String(value));
      }
    }
    return text;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function setStatus(text) { $("status").textContent = text || ""; }

  let toastTimer = null;
  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  // ---- the socket -------------------------------------------------------------------------

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/webchat/ws");
    state.socket = socket;
    if (state.lang) setStatus(t("ui.connecting"));
    socket.onopen = () => { state.retry = 0; };
    socket.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      const handler = handlers[frame.type];
      if (handler) handler(frame);
    };
    socket.onclose = () => {
      if (state.socket !== socket) return;
      setStatus(t("ui.disconnected"));
      state.retry = Math.min(state.retry + 1, 5);
      setTimeout(connect, 500 * state.retry);
    };
  }

  function send(frame) {
    if (!state.socket || state.socket.readyState !== WebSocket.OPEN) {
      toast(t("ui.disconnected"));
      return false;
    }
    state.socket.send(JSON.stringify(frame));
    return true;
  }

  const handlers = {
    welcome(frame) {
      state.texts = frame.texts;
      state.limits = frame.limits;
      state.estates = frame.estates;
      state.demo = frame.demo || { public: false };
      if (!state.lang || !state.texts[state.lang]) state.lang = frame.default_lang;
      send({ type: "lang", lang: state.lang });
      setStatus("");
      const saved = JSON.parse(localStorage.getItem("guanjia.me") || "null");
      const code = saved && saved.estate;
      state.estate = state.estates.find((e) => e.code === code) || state.estates[0] || null;
      state.owners = state.estate ? state.estate.owners : [];
      state.ownersTotal = state.estate ? state.estate.owners_total : 0;
      state.ownersQuery = "";
      // An owner saved earlier may be beyond the first page: the server says whether they exist.
      if (saved && state.estate && (saved.role === "owner" || findPerson(saved.role, saved.id))) {
        send({ type: "pick", role: saved.role, id: saved.id });
      } else {
        showPicker();
      }
      renderTexts();
    },
    picked(frame) {
      state.me = frame.me;
      state.chats = frame.chats.map((c) => ({ id: c.id, kind: c.kind }));
      state.messages = {};
      state.unread = {};
      for (const chat of frame.chats) state.messages[chat.id] = chat.messages;
      localStorage.setItem(
        "guanjia.me",
        JSON.stringify({ role: frame.me.role, id: frame.me.id, estate: frame.me.estate.code }),
      );
      const keep = state.chats.find((c) => c.id === state.active);
      const first = state.chats.find((c) => c.kind === (frame.me.role === "staff" ? "staff" : "owners"));
      state.active = keep ? keep.id : first ? first.id : state.chats[0].id;
      app.dataset.view = "chat";
      app.dataset.pane = keep ? app.dataset.pane || "conversation" : "conversation";
      buildThreads();
      renderTexts();
      openChat(state.active);
    },
    message(frame) {
      const list = state.messages[frame.chat];
      if (!list) return;
      list.push(frame.message);
      const thread = threadOf(frame.chat);
      if (thread) {
        const empty = thread.querySelector(".empty");
        if (empty) empty.remove();
        thread.appendChild(renderMessage(frame.message));
      }
      if (frame.chat !== state.active || app.dataset.pane === "list") {
        state.unread[frame.chat] = (state.unread[frame.chat] || 0) + 1;
      } else {
        scrollDown();
      }
      renderChatList();
    },
    edit(frame) {
      const list = state.messages[frame.chat];
      if (!list) return;
      const index = list.findIndex((m) => m.id === frame.message.id);
      if (index >= 0) list[index] = frame.message;
      const thread = threadOf(frame.chat);
      const old = thread && thread.querySelector('[data-id="' + CSS.escape(frame.message.id) + '"]');
      if (old) {
        const fresh = renderMessage(frame.message);
        fresh.classList.add("flash");
        old.replaceWith(fresh);
      }
      renderChatList();
    },
    people(frame) {
      if (frame.ref !== state.peopleRef) return; // an answer to an older search
      state.owners = frame.offset ? state.owners.concat(frame.owners) : frame.owners;
      state.ownersTotal = frame.total;
      state.ownersQuery = frame.query;
      if (app.dataset.view === "picker") renderPicker();
    },
    lang() {},
    error(frame) {
      toast(frame.text);
      if (!state.me && app.dataset.view !== "picker") showPicker();
    },
    toast(frame) { toast(frame.text); },
  };

  // ---- the picker -------------------------------------------------------------------------

  function findPerson(role, id) {
    if (!state.estate) return null;
    const list = role === "staff" ? state.estate.staff : state.owners;
    return list.find((p) => p.id === id) || null;
  }

  function showPicker() {
    app.dataset.view = "picker";
    $("search").value = "";
    if (state.ownersQuery) askPeople("", 0);
    renderPicker();
    $("search").focus();
  }

  // Owners are searched and paged by the server (`people` frames): an estate of thousands is
  // never sent whole.
  function askPeople(query, offset) {
    state.peopleRef += 1;
    send({ type: "people", query, offset, ref: state.peopleRef });
  }

  function renderPicker() {
    const select = $("estate");
    $("estate-row").hidden = state.estates.length < 2;
    select.replaceChildren(...state.estates.map((e) => {
      const option = el("option", null, e.name);
      option.value = e.code;
      option.selected = state.estate && e.code === state.estate.code;
      return option;
    }));
    for (const tab of document.querySelectorAll(".tab")) {
      tab.setAttribute("aria-selected", String(tab.dataset.role === state.role));
    }
    const query = $("search").value.trim().toLowerCase();
    const people = $("people");
    const items = [];
    if (state.estate) {
      const staff = state.role === "staff";
      const list = staff ? state.estate.staff : state.owners;
      for (const person of list) {
        const detail = state.role === "staff"
          ? t("department." + person.department) + " · " + t("role." + person.role)
          : (person.units.length ? person.units.join("、") : t("ui.no_unit"));
        const haystack = (person.name + " " + detail + " " + (person.units || []).join(" "))
          .toLowerCase();
        if (query && !haystack.includes(query)) continue;
        const button = el("button");
        button.type = "button";
        button.dataset.role = state.role;
        button.dataset.id = person.id;
        button.dataset.units = (person.units || []).join(" ");
        const avatar = el("span", "avatar " + state.role, person.name.slice(0, 1));
        const who = el("span", "who");
        who.append(el("strong", null, person.name), el("span", null, detail));
        button.append(avatar, who);
        button.addEventListener("click", () => send({ type: "pick", role: state.role, id: person.id }));
        const item = el("li");
        item.append(button);
        items.push(item);
        if (items.length >= 300) break;
      }
      const more = state.ownersTotal - state.owners.length;
      if (!staff && more > 0) {
        const button = el("button", "more", t("ui.more_people", { count: more }));
        button.type = "button";
        button.addEventListener("click", () => askPeople(state.ownersQuery, state.owners.length));
        const item = el("li");
        item.append(button);
        items.push(item);
      }
    }
    if (!items.length) {
      items.push(el("li", "empty", state.estates.length ? t("ui.no_match") : t("ui.no_demo")));
    }
    people.replaceChildren(...items);
  }

  $("search").addEventListener("input", () => {
    if (state.role === "owner") askPeople($("search").value.trim(), 0);
    renderPicker();
  });
  $("estate").addEventListener("change", (event) => {
    state.estate = state.estates.find((e) => e.code === event.target.value) || null;
    renderPicker();
  });
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      state.role = tab.dataset.role;
      const query = $("search").value.trim();
      if (state.role === "owner" && query !== state.ownersQuery) askPeople(query, 0);
      renderPicker();
    });
  }

  // ---- the chats --------------------------------------------------------------------------

  function chatTitle(chat) {
    const estate = state.me ? state.me.estate.name : "";
    if (chat.kind === "owners") return t("ui.chat_owners", { estate });
    if (chat.kind === "staff") return t("ui.chat_staff", { estate });
    return t("ui.chat_private");
  }

  function threadOf(chatId) {
    return $("messages").querySelector('.thread[data-chat="' + CSS.escape(chatId) + '"]');
  }

  function buildThreads() {
    const threads = state.chats.map((chat) => {
      const thread = el("div", "thread");
      thread.dataset.chat = chat.id;
      thread.hidden = chat.id !== state.active;
      const list = state.messages[chat.id];
      if (!list.length) thread.append(el("div", "empty", t("ui.empty_chat")));
      for (const message of list) thread.append(renderMessage(message));
      return thread;
    });
    $("messages").replaceChildren(...threads);
  }

  function senderName(message) {
    return message.from.kind === "bot" ? t("ui.bot_name") : message.from.name;
  }

  function fileSize(bytes) {
    if (typeof bytes !== "number") return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return Math.ceil(bytes / 1024) + " KB";
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  function renderMessage(message) {
    const mine = state.me && message.from.id === state.me.user_id;
    const row = el("div", "msg " + (mine ? "mine" : message.from.kind === "bot" ? "bot" : "other"));
    row.dataset.id = message.id;
    row.dataset.from = message.from.id;
    const name = senderName(message);
    row.append(el("div", "avatar " + message.from.kind, name.slice(0, 1)));
    const body = el("div", "body");
    if (!mine) body.append(el("div", "name", name));
    const bubble = el("div", "bubble");
    if (message.quote) {
      const quoted = message.quote.name || t("ui.bot_name");
      bubble.append(el("div", "quote", quoted + ": " + message.quote.text));
    }
    if (message.text) bubble.append(withLinks("text", message.text, message.mentions || []));
    const photos = el("div", "photos");
    for (const photo of message.photos) {
      if (photo.url) {
        const img = el("img");
        img.src = photo.url;
        img.alt = t("ui.photo");
        img.loading = "lazy";
        img.addEventListener("click", () => window.open(photo.url, "_blank", "noopener"));
        img.addEventListener("load", () => { if (row.parentNode && row.parentNode.dataset.chat === state.active) scrollDown(); });
        photos.append(img);
      } else {
        photos.append(el("span", "missing", t("ui.photo")));
      }
    }
    bubble.append(photos);
    // Files the bot offers (a month report's workbook): download links. Older servers send none.
    const files = el("div", "files");
    for (const file of message.files || []) {
      if (!file.url) continue;
      const link = el("a", "file");
      link.href = file.url;
      link.download = file.name;
      link.title = t("ui.download");
      link.append(el("span", "file-name", file.name), el("span", "file-size", fileSize(file.size)));
      files.append(link);
    }
    bubble.append(files);
    const buttons = el("div", "buttons");
    for (const line of message.buttons) {
      const rowEl = el("div", "row");
      for (const button of line) {
        const press = el("button", null, button.label);
        press.type = "button";
        press.dataset.payload = button.payload;
        press.addEventListener("click", () => {
          send({ type: "press", chat: message.chat, message: message.id, payload: button.payload });
        });
        rowEl.append(press);
      }
      buttons.append(rowEl);
    }
    bubble.append(buttons);
    body.append(bubble);
    let meta = clock(message.at);
    if (message.edited) meta += " · " + t("ui.edited");
    const metaEl = el("div", "meta", meta);
    if (!mine) {
      const reply = el("button", "reply", t("ui.reply"));
      reply.type = "button";
      reply.addEventListener("click", () => startReply(message));
      metaEl.append(reply);
    }
    body.append(metaEl);
    row.append(body);
    return row;
  }

  // Web addresses in a message (the console's sign-in link) can be opened: each becomes a link
  // whose text and href are the address itself; everything else stays plain text.
  const LINK = /https?:\/\/[^\s<>"'，。！？、）】]+/g;
  // The text's mentions of people (`@张工`) highlighted; the page's own person's the most.
  function appendMentioned(node, text, mentions) {
    const names = mentions.map((m) => m.name).filter(Boolean).sort((a, b) => b.length - a.length);
    if (!names.length) {
      node.append(document.createTextNode(text));
      return;
    }
    const escaped = names.map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    const pattern = new RegExp(escaped.join("|"), "g");
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      if (match.index > last) node.append(document.createTextNode(text.slice(last, match.index)));
      const who = mentions.find((m) => m.name === match[0]);
      const me = state.me && who && who.id === state.me.user_id;
      node.append(el("span", "mention" + (me ? " me" : ""), match[0]));
      last = match.index + match[0].length;
    }
    if (last < text.length) node.append(document.createTextNode(text.slice(last)));
  }

  function withLinks(className, text, mentions = []) {
    const node = el("div", className);
    let last = 0;
    for (const match of text.matchAll(LINK)) {
      if (match.index > last) appendMentioned(node, text.slice(last, match.index), mentions);
      const link = el("a", null, match[0]);
      link.href = match[0];
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      node.append(link);
      last = match.index + match[0].length;
    }
    if (last < text.length) appendMentioned(node, text.slice(last), mentions);
    return node;
  }

  // Times are shown in the estate's time zone, like the times on ticket cards.
  function clock(iso) {
    const at = new Date(iso);
    if (isNaN(at)) return "";
    const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    const zone = state.me && state.me.estate.timezone;
    try {
      return at.toLocaleTimeString(state.lang === "en" ? "en-GB" : "zh-CN", zone ? { ...options, timeZone: zone } : options);
    } catch (e) {
      return at.toLocaleTimeString([], options);
    }
  }

  function lastText(chatId) {
    const list = state.messages[chatId] || [];
    const last = list[list.length - 1];
    if (!last) return "";
    const text = last.text || (last.photos.length ? t("ui.photo") : "") ||
      ((last.files || []).length ? t("ui.file") : "");
    return senderName(last) + ": " + text.replace(/\s+/g, " ");
  }

  function renderChatList() {
    const items = state.chats.map((chat) => {
      const item = el("button", "chat-item");
      item.type = "button";
      item.dataset.chat = chat.id;
      if (chat.id === state.active) item.setAttribute("aria-current", "true");
      const short = chat.kind === "owners" ? t("ui.list_owners")
        : chat.kind === "staff" ? t("ui.list_staff") : t("ui.chat_private");
      const tone = chat.kind === "private" ? "bot" : chat.kind === "staff" ? "staff" : "owner";
      const avatar = el("span", "avatar " + tone, short.slice(0, 1));
      const summary = el("span", "summary");
      summary.append(el("span", "name", short), el("span", "last", lastText(chat.id)));
      item.append(avatar, summary, el("span", "badge", state.unread[chat.id] ? String(state.unread[chat.id]) : ""));
      item.addEventListener("click", () => openChat(chat.id));
      return item;
    });
    $("chats").replaceChildren(...items);
  }

  function openChat(chatId) {
    if (state.replyTo && state.replyTo.chat !== chatId) clearReply();
    state.active = chatId;
    state.unread[chatId] = 0;
    app.dataset.pane = "conversation";
    for (const thread of document.querySelectorAll(".thread")) {
      thread.hidden = thread.dataset.chat !== chatId;
    }
    const chat = state.chats.find((c) => c.id === chatId);
    $("conversation-title").textContent = chat ? chatTitle(chat) : "";
    renderChatList();
    scrollDown(true);
    if (window.matchMedia("(min-width: 721px)").matches) $("input").focus();
  }

  function scrollDown(now) {
    const box = $("messages");
    if (now) box.style.scrollBehavior = "auto";
    box.scrollTop = box.scrollHeight;
    if (now) box.style.scrollBehavior = "";
  }

  $("back").addEventListener("click", () => {
    app.dataset.pane = "list";
    renderChatList();
  });

  // ---- composing --------------------------------------------------------------------------

  const input = $("input");
  function fitInput() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 140) + "px";
  }
  input.addEventListener("input", fitInput);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim() && !state.photo) return;
    const frame = { type: "say", chat: state.active, text };
    if (state.photo) frame.photo = state.photo;
    if (state.replyTo && state.replyTo.chat === state.active) frame.reply_to = state.replyTo.id;
    if (send(frame)) {
      input.value = "";
      fitInput();
      clearPhoto();
      clearReply();
    }
  });

  // Replying to a message (a close prompt asks for a reply) quotes it and says so to the bot.
  function startReply(message) {
    state.replyTo = { id: message.id, chat: message.chat };
    $("replying-text").textContent = t("ui.replying", { name: senderName(message) }) + " " + (message.text || "");
    $("replying").hidden = false;
    input.focus();
  }

  function clearReply() {
    state.replyTo = null;
    $("replying").hidden = true;
  }
  $("cancel-reply").addEventListener("click", clearReply);

  function clearPhoto() {
    state.photo = null;
    $("file").value = "";
    $("preview").hidden = true;
    $("preview-image").removeAttribute("src");
  }

  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    if (!file) return;
    if (file.size > state.limits.photo_bytes) {
      toast(t("error.photo_too_big", { limit_mb: Math.floor(state.limits.photo_bytes / 1048576) }));
      clearPhoto();
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      state.photo = reader.result;
      $("preview-image").src = reader.result;
      $("preview").hidden = false;
      input.focus();
    };
    reader.readAsDataURL(file);
  });
  $("remove-photo").addEventListener("click", clearPhoto);

  // ---- top bar and language ---------------------------------------------------------------

  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("guanjia.lang", state.lang);
    send({ type: "lang", lang: state.lang });
    renderTexts();
    if (app.dataset.view === "picker") renderPicker();
    if (app.dataset.view === "chat") { buildThreads(); openChat(state.active); }
  });

  // The staff console is reached as staff reach it from any chat app: /login in the private
  // chat with the bot, which answers with a one-time sign-in link.
  $("console").addEventListener("click", () => {
    const mine = state.chats.find((c) => c.kind === "private");
    if (!mine) return;
    openChat(mine.id);
    send({ type: "say", chat: mine.id, text: "/login" });
  });

  $("switch-person").addEventListener("click", () => {
    localStorage.removeItem("guanjia.me");
    showPicker();
  });

  function renderTexts() {
    document.documentElement.lang = state.lang === "en" ? "en" : "zh";
    document.title = t("ui.title");
    $("title").textContent = state.me ? state.me.estate.name : t("ui.title");
    $("lang").textContent = t("ui.language");
    $("back").setAttribute("aria-label", t("ui.back"));
    $("pick-title").textContent = t("ui.pick_title");
    $("pick-hint").textContent = t("ui.pick_hint", { estate: state.estate ? state.estate.name : "" });
    $("estate-label").textContent = t("ui.estate");
    $("tab-owner").textContent = t("ui.tab_owner");
    $("tab-staff").textContent = t("ui.tab_staff");
    $("search").placeholder = t("ui.search");
    $("local-only").textContent = state.demo.public ? t("ui.public_demo") : t("ui.local_only");
    $("local-only").classList.toggle("public", Boolean(state.demo.public));
    $("input").placeholder = t("ui.input");
    $("send").textContent = t("ui.send");
    $("attach").title = t("ui.attach");
    $("remove-photo").title = t("ui.remove_photo");
    $("switch-person").textContent = t("ui.switch_person");
    $("switch-person").hidden = !state.me;
    $("me").textContent = state.me ? state.me.name : "";
    $("console").hidden = !(state.me && state.me.role === "staff");
    $("console").textContent = t("ui.console");
    if (state.me) {
      const chat = state.chats.find((c) => c.id === state.active);
      $("conversation-title").textContent = chat ? chatTitle(chat) : "";
      renderChatList();
    }
  }

  connect();
})();
