/*
 * softvisor image: external snapshots and backing chains
 * (cmd_image_chain.c). argv[0] is the subcommand; CLI_EXIT_* returned.
 */
#ifndef SV_CLI_CMD_IMAGE_CHAIN_H
#define SV_CLI_CMD_IMAGE_CHAIN_H

int image_cmd_snapshot_external(int argc, char **argv);
int image_cmd_commit(int argc, char **argv);
int image_cmd_pull(int argc, char **argv);
int image_cmd_chain(int argc, char **argv);
int image_cmd_rebase(int argc, char **argv);

#endif
