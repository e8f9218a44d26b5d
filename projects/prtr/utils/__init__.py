from .cli import (UserInputError, check_checkpoint, check_config_file,
                  check_data_files, check_pretrained, run_cli,
                  setup_cpu_distributed)

__all__ = [
    'UserInputError', 'check_checkpoint', 'check_config_file',
    'check_data_files', 'check_pretrained', 'run_cli', 'setup_cpu_distributed'
]
