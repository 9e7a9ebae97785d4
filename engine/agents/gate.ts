import type { ReasonCode } from '../audit/schema';
import type { Policy } from '../policy/schema';

/** The policy's switches over agents, checked before anything else: all agents off, the kill switch, a blocked agent. */
export function agentGate(policy: Policy, agentId: string): { reason: ReasonCode; rule: string; explanation: string } | undefined {
	const agents = policy.agents;
	if (!agents.enabled) return { reason: 'AGENTS_DISABLED', rule: 'agents.enabled', explanation: 'agent actions are turned off in the policy (agents.enabled is false)' };
	if (agents.killSwitch) return { reason: 'AGENT_KILL_SWITCH', rule: 'agents.killSwitch', explanation: 'the kill switch stops every agent action (policy agents.killSwitch)' };
	if (agents.blocked.includes(agentId)) return { reason: 'AGENT_BLOCKED', rule: 'agents.blocked', explanation: `agent ${agentId} is blocked by the policy (agents.blocked)` };
	return undefined;
}
