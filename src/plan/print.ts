/** --dry-run: the plan as the exact commands, in order. */
import { NS_PATH_IN_CHILD } from '../exec/runner.js';
import type { Action, Plan } from './types.js';

const NS_TOKEN = '<netns>';

function render(action: Action): string {
  const swap = (args: readonly string[]) => args.map((a) => (a === NS_PATH_IN_CHILD ? NS_TOKEN : a)).join(' ');
  if (action.kind === 'ip') return action.place === 'guest' ? `ip -n ${NS_TOKEN} ${swap(action.args)}` : `ip ${swap(action.args)}`;
  const cmd = swap(action.argv);
  return action.place === 'guest' ? `ip netns exec ${NS_TOKEN} ${cmd}` : cmd;
}

export function formatPlan(plan: Plan): string {
  const lines = [`# ${NS_TOKEN}: ${plan.guestLabel}`];
  plan.steps.forEach((step, i) => {
    lines.push(`${render(step.action)}    # ${i + 1}. ${step.title}`);
  });
  return `${lines.join('\n')}\n`;
}
