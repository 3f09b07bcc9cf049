import { apiKey, person, signIn, signOut, usesKeys } from './api.js';
import { el } from './render.js';

/**
 * Resolves once the page may call the API: at once for the local inspector (its token is in the page or
 * the link), and, where the service serves the page, once the person has signed in with an API key.
 */
export function signedIn(app, account) {
  if (!usesKeys) return Promise.resolve();
  if (apiKey()) {
    account.replaceChildren(
      el('span', { class: 'muted small' }, person() ? `${person()} · ` : ''),
      el('button', { class: 'sign-out', onclick: signOut }, 'Sign out'),
    );
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const key = el('input', { type: 'password', name: 'key', autocomplete: 'off', required: true, placeholder: 'sck_…', 'aria-label': 'API key' });
    const name = el('input', { type: 'text', name: 'person', autocomplete: 'name', placeholder: 'optional', 'aria-label': 'Your name' });
    const note = el('p', { class: 'muted' }, 'The key is kept in this tab only, and sent in the Authorization header of the inspector\'s requests.');
    const submit = el('button', { type: 'submit' }, 'Sign in');
    const form = el('form', {
      class: 'panel sign-in',
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        note.textContent = 'Checking the key…';
        try {
          await signIn(key.value.trim(), name.value.trim());
          location.reload();
          resolve();
        } catch (error) {
          note.textContent = error.status === 401 ? `This key was refused: ${error.message}` : `Could not sign in: ${error.message}`;
          submit.disabled = false;
        }
      },
    },
    el('h1', {}, 'Sign in'),
    el('label', {}, 'API key ', key),
    el('label', {}, 'Your name, recorded with your decisions ', name),
    submit,
    note);
    app.replaceChildren(form);
    key.focus();
  });
}
