// n8n-core logs every node error it reports; the tests provoke many on purpose, so keep n8n's logger quiet
// (assertions still show every failure). Imported before n8n-core so its config sees the setting.
process.env.N8N_LOG_LEVEL ??= 'silent';

export {};
