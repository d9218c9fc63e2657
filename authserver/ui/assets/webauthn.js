// The passkey script of authgate's pages: it runs the WebAuthn ceremony
// of each form marked data-webauthn ("create" to add a passkey, "get" to
// sign in or confirm with one). The form carries the ceremony's options,
// as the server wrote them, in data-options; when it is submitted, the
// script asks the browser's authenticator (navigator.credentials), puts
// its answer as JSON in the form's "credential" field and submits the
// form. The server checks everything; this only carries bytes.
//
// Forms stay hidden unless the browser can use passkeys. No inline
// script, no eval: the pages' Content-Security-Policy allows this file
// alone.
(function () {
  "use strict";

  function fromB64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeIDs(list) {
    (list || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
  }

  // creationOptions and requestOptions turn the server's JSON into what
  // navigator.credentials takes: binary members as ArrayBuffers.
  function creationOptions(o) {
    var p = o.publicKey;
    p.challenge = fromB64url(p.challenge);
    p.user.id = fromB64url(p.user.id);
    decodeIDs(p.excludeCredentials);
    return { publicKey: p };
  }

  function requestOptions(o) {
    var p = o.publicKey;
    p.challenge = fromB64url(p.challenge);
    decodeIDs(p.allowCredentials);
    return { publicKey: p };
  }

  // encode writes a PublicKeyCredential as the JSON go-webauthn parses.
  function encode(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toB64url(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  function setup(form) {
    var mode = form.getAttribute("data-webauthn");
    var status = form.querySelector("[data-webauthn-status]");
    var button = form.querySelector("button");
    var field = form.querySelector("input[name=credential]");
    if (!window.PublicKeyCredential || !navigator.credentials || !field) {
      return;
    }
    form.hidden = false;
    form.addEventListener("submit", function (ev) {
      if (field.value) {
        return;
      }
      ev.preventDefault();
      if (status) {
        status.textContent = "";
      }
      if (button) {
        button.disabled = true;
      }
      var opts;
      try {
        opts = JSON.parse(form.getAttribute("data-options"));
      } catch (e) {
        opts = null;
      }
      if (!opts || !opts.publicKey) {
        return;
      }
      var ceremony = mode === "create"
        ? navigator.credentials.create(creationOptions(opts))
        : navigator.credentials.get(requestOptions(opts));
      ceremony.then(function (cred) {
        field.value = encode(cred);
        form.submit();
      }, function (err) {
        if (button) {
          button.disabled = false;
        }
        if (status) {
          status.textContent = err && err.name === "NotAllowedError"
            ? "The passkey was not used: it was cancelled or took too long. Try again, or reload the page."
            : "Your passkey could not be used (" + (err && err.name ? err.name : "error") + "). Reload the page and try again.";
        }
      });
    });
  }

  function start() {
    var forms = document.querySelectorAll("form[data-webauthn]");
    for (var i = 0; i < forms.length; i++) {
      setup(forms[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
