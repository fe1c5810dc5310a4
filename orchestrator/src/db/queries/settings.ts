/** The SQL on settings: what was changed at run time (the balancer's), as JSON by name. */
import type { Prepare } from '../statement.js';

export function settingsQueries(prep: Prepare) {
  return {
    setting: prep<[string], { value: string }>('SELECT value FROM settings WHERE name = ?'),
    setSetting: prep<{ name: string; value: string }>(
      'INSERT INTO settings (name, value) VALUES (@name, @value) ON CONFLICT(name) DO UPDATE SET value = @value',
    ),
  };
}
