// n8n's InstanceSettings writes ~/.n8n/config on first use; keep tests out of the user's home.
const os = require('node:os');
const path = require('node:path');
const fs = require('node:fs');
if (!process.env.N8N_USER_FOLDER) {
	process.env.N8N_USER_FOLDER = fs.mkdtempSync(path.join(os.tmpdir(), 'nudge-n8n-'));
}
process.env.N8N_DIAGNOSTICS_ENABLED = 'false';
