// Package ui renders the authorization server's HTML pages (sign-in,
// consent, sign-out, device verification, errors, the landing page) from
// embedded html/template files. An operator can override any of the files
// with one of the same name in a directory, and brand them (product name,
// logo, accent color; see Brand). Pages work without JavaScript and carry
// no inline script; only the passkey ceremonies need one, a file served
// from the server's origin (WebAuthnScript) that just the pages offering
// them load. Pages follow the browser's light or dark scheme, fit a
// phone's width, and are sent with headers that forbid framing and
// caching.
//
// It imports nothing from this module, and only package authserver uses
// it: authserver decides what a page shows and where its form posts, and
// handles what comes back. The package makes no protocol decisions.
package ui
