-- Renewal goes back to the public: an approval is renewed only after a renewal comment period
-- (at least the use policy's min_comment_days) that was opened while the deployment runs.
-- deployment_comments.stage gains a third value, 'renewal', for comments made in that period.
ALTER TABLE deployments ADD COLUMN renewal_opened_at TIMESTAMPTZ;
